"""location.school_site: a photo or video whose GPS says it was taken inside one of the school's sites.

location.gps removes the coordinates and lets the photo go; a school's policy may say more (St Mary 6.9: images
"identifying sensitive school premises" must not be published on personal web space). Removing the GPS leaves the
premises in the picture, so this rule is its own finding, which the pack warns on (the proxy holds the post for the
person's answer) rather than sanitises. Each coordinate the file carries is measured against each configured site
(`[school] sites`, rules/schema.py Site): any one inside a site's radius counts. With no sites configured the rule has
nothing to compare and says so in `postguard status`.
"""
from __future__ import annotations

from .. import geo, media
from ..model import Attachment, Submission
from .base import Detector, Hit, Unchecked, file_target

RULE = "location.school_site"


class SchoolSiteDetector(Detector):
    id = "school_site"
    rules = {RULE: "a photo or video whose GPS lies inside one of the school's configured sites ([school] sites)"}
    messages = {
        "on_site": "This photo was taken on the school site ({site}, {distance} m from its centre, by its {source} "
                   "data): removing the location does not remove the school from the picture.",
    }

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        self.sites = tuple(config.school.sites)

    def status(self) -> str:
        if not self.sites:
            return f"{RULE}: no [school] sites configured, so photos taken on the school site cannot be told"
        return ""

    def check_file(self, submission: Submission, att: Attachment, rules: set[str]):
        if RULE not in rules or not self.sites:
            return
        report = media.inspect_file(submission, att)
        target = file_target(att.name)
        for error in report.errors:  # what was not read may hold the coordinate that is on the site
            yield Unchecked(target, error)
        best = None
        for c in report.real_coordinates:
            for site in self.sites:
                d = geo.distance_m(c.lat, c.lon, site.lat, site.lon)
                if d <= site.radius_m and (best is None or d < best[0]):
                    best = (d, site, c)
        if best is None:
            return
        d, site, c = best
        evidence = {"site": site.name, "distance_m": round(d), "radius_m": site.radius_m, "source": c.source,
                    "lat": round(c.lat, 7), "lon": round(c.lon, 7), "format": report.format}
        yield Hit(RULE, self.message("on_site", site=site.name, distance=round(d), source=c.source), evidence,
                  target)
