"""location.gps and location.place: where a photo or video says it was made."""
from __future__ import annotations

from .. import geo, media
from ..model import Attachment, Submission
from .base import Detector, Hit, Unchecked, file_target


class LocationDetector(Detector):
    id = "location"
    rules = {
        "location.gps": "GPS coordinates in a photo's or video's metadata",
        "location.place": "place names in a photo's metadata (IPTC City, XMP Location, GPSAreaInformation)",
    }
    sanitises = frozenset(rules)
    messages = {
        "on_site": "This photo records that it was taken on the school site ({site}): posting it tells anyone where "
                   "the school and its pupils are.",
        "gps": "This photo records the exact place it was taken{where} (GPS in its {source} data): anyone who "
               "downloads it can see where it was taken.",
        "place": "This file names a place in its details ({names}).",
    }

    def warm_up(self) -> None:
        geo.nearest_town(0.0, 0.0)

    def check_file(self, submission: Submission, att: Attachment, rules: set[str]):
        report = media.inspect_file(submission, att)
        target = file_target(att.name)
        for error in report.errors:
            yield Unchecked(target, error)
        if "location.gps" in rules and report.real_coordinates:
            yield Hit("location.gps", *self._gps(report), target=target)
        if "location.place" in rules and report.places:
            places = {}
            for p in report.places:
                places.setdefault(p.field, p.value)
            names = ", ".join(dict.fromkeys(places.values()))
            yield Hit("location.place", self.message("place", names=names[:80]),
                      {"places": places, "format": report.format}, target)

    def _gps(self, report: media.MediaReport) -> tuple[str, dict]:
        first = report.real_coordinates[0]
        evidence = {
            "lat": round(first.lat, 7), "lon": round(first.lon, 7), "source": first.source,
            "carriers": [{"source": c.source, "lat": round(c.lat, 7), "lon": round(c.lon, 7)}
                         for c in report.real_coordinates],
            "format": report.format,
        }
        town = geo.nearest_town(first.lat, first.lon)
        if town:
            evidence["nearest_town"] = town
        site = geo.nearest_site(first.lat, first.lon, self.config.school.sites)
        if site:
            evidence["school_site"] = site
        where = f" near {town['name']}, {town['country']}" if town else ""
        if site and site["on_site"]:
            message = self.message("on_site", site=site["name"])
        else:
            message = self.message("gps", where=where, source=first.source)
        return message, evidence

    def sanitise(self, attachment: Attachment, rules: set[str]):
        report = media.inspect(attachment.data)
        if not (report.real_coordinates or report.places or report.patches or report.errors):
            return attachment.data, []
        cleaned = media.strip(attachment.data, report)
        removed = list(dict.fromkeys([c.source for c in report.real_coordinates] +
                                     [p.field for p in report.places]))
        return cleaned, removed
