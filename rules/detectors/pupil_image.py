"""pupil.image: a photo or video that very likely shows pupils, because it comes from the school.

No program can tell a pupil from any other child, and recognising children's faces would be a data protection
problem of its own. What PostGuard can know is whether a picture comes from the school, and each signal is a reason
a person can check:

  signal     weight  when
  library    1.0     a perceptual-hash match with the school's photo library (0.3 for a possible match: alone it
                     is not a finding, beside faces or another signal it is)
  camera     0.8     taken on a school camera (body serial in the asset register); 0.4 by make and model only
  site       0.6     GPS inside a school site's geofence
  trip       0.5     GPS at a registered trip's place; 0.2 for a photo taken on a trip's dates
  badge      0.8     the school badge or logo is in the picture
  faces      0.5     faces are in the picture, *and* another signal is there; faces alone are never a finding

The weights add up to a score; the pack's thresholds decide: `report` (a finding from this score) and `high`
(severity high from this score). A finding also needs people in the picture or a signal strong on its own
(library match, school camera serial, badge): the site or a trip alone is the location rules' business. Cheap signals run first; the face detector runs only when it could change the
outcome. The evidence holds signal names and numbers only: never the picture, a face or a file name.
"""
from __future__ import annotations

import functools
import logging
import types
from pathlib import Path

from .. import geo, media
from ..images import context
from ..media import formats
from ..model import Attachment, Submission
from .base import Detector, Hit, file_target

log = logging.getLogger(__name__)

# What the frame decoders read (Pillow with pillow-heif, PyAV), from the table of formats in rules/media/formats.py.
PICTURES, VIDEOS = formats.PICTURES, formats.VIDEOS
FRAMES = PICTURES | VIDEOS
# The pack may set these under [rules."pupil.image".thresholds]. The distances come from the tables in
# docs/pupil-images.md: no unrelated photo came closer than 74 of 256 bits.
DEFAULTS = {"report": 0.5, "high": 1.0, "match_distance": 63, "possible_distance": 73, "group_faces": 10}
WEIGHTS = {"library": 1.0, "library_possible": 0.3, "camera_serial": 0.8, "camera_model": 0.4, "site": 0.6,
           "trip_place": 0.5, "trip_dates": 0.2, "badge": 0.8, "faces": 0.5}
VIDEO_FRAMES = 6
VIDEO_BUDGET_S = 2.0
# submission.context[PIXELS]: {attachment field: a downscaled copy of its picture}, when the attachment itself is the
# photo's metadata only (the extension's slices for a big photo, extension/src/content/files.js): the copy is looked
# at (library, badge, faces) in its place. The engine decodes at most 1024 px (images/phash.py decode), the size the
# extension sends, and the proxy still checks the whole upload.
PIXELS = "pixels"


class PupilImageDetector(Detector):
    id = "pupil_image"
    rules = {"pupil.image": "a photo or video from the school: its photo library, cameras, site, trips or badge, "
                            "with faces in it raising the severity"}

    thresholds = {"pupil.image": DEFAULTS}
    messages = {
        "photo": "This picture looks like a school photo: {reasons}. Photos of pupils must not go on personal social "
                 "media.",
        "library": "it matches a photo in the school's photo library",
        "library_possible": "it looks like a photo in the school's photo library",
        "camera_serial": "it was taken on a school camera",
        "camera_model": "it was taken on the kind of device the school uses ({model})",
        "site": "it was taken on the school site ({site})",
        "trip_place": "it was taken at the place of a school trip ({trip})",
        "trip_dates": "it was taken during a school trip ({trip})",
        "badge": "it shows the school badge",
        "faces_group": "it shows a group of people",
        "faces": "it shows people",
    }

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        self.settings = {**DEFAULTS, **self.tuning.get("pupil.image", {})}
        self.cameras = context.cameras(config)
        self.trips = context.trips(config)
        self._logo_paths = context.logos(config)
        self._badges = None
        self._library = None

    @property
    def library(self):
        if self._library is None:
            self._library = _images().library.Library.for_config(self.config)
        return self._library

    @property
    def badges(self):
        if self._badges is None and self._logo_paths:
            self._badges = _images().badge.BadgeMatcher.from_paths(self._logo_paths)
        return self._badges

    def status(self) -> str:
        stats = self.library.stats()
        return (f"photo library: {stats['photos']} photos ({stats['hashes']} hashes); face detector: "
                f"{_images().faces.backend()}")

    def warm_up(self) -> None:
        """Read the library's hashes (seconds for 100,000 photos) and describe the badges once."""
        log.info("photo library: %d photos; badge logos: %d", len(self.library), len(self._logo_paths))
        if self._logo_paths:
            log.debug("badge matcher ready: %s", self.badges)

    def check_file(self, submission: Submission, att: Attachment, rules: set[str]):
        report = media.inspect_file(submission, att)
        # sniff() does not return WebM: that would change `postguard scan`'s format and the proxy's file names
        # (formats.py, at WebM). The table's test for the formats it leaves out runs here instead.
        kind = report.format if report.format in FRAMES else formats.sniff_unsniffed(att.data)
        if kind not in FRAMES:
            return
        copy = submission.context.get(PIXELS, {}).get(att.field) if att.field and kind in PICTURES else None
        signals = self.assess(copy or att.data, report, kind)
        hit = self.judge(signals)
        if hit:
            message, evidence, severity = hit
            yield Hit("pupil.image", message, evidence, file_target(att.name), severity)

    # ----------------------------------------------------------------------------------------------- signals

    def assess(self, data: bytes, report: media.MediaReport, kind: str) -> list[dict]:
        signals = self._metadata_signals(report)
        frames = None
        if len(self.library) or self.badges:
            frames = self._frames(data, kind)
            for img in frames:
                s = self._picture_signals(img)
                if s:
                    signals += s
                    break
        if self._faces_could_matter(signals):
            frames = frames if frames is not None else self._frames(data, kind)
            faces = max((self._count_faces(img) for img in frames), default=0)
            if faces:
                signals.append({"signal": "faces", "count": faces, "weight": WEIGHTS["faces"],
                                "group": faces >= self.settings["group_faces"]})
        return signals

    def _metadata_signals(self, report: media.MediaReport) -> list[dict]:
        out = []
        cam = context.camera_match(report.camera, self.cameras) if self.cameras else None
        if cam:
            how = cam[0]
            out.append({"signal": "camera", "match": how, "make": report.camera.get("make", ""),
                        "model": report.camera.get("model", ""), "weight": WEIGHTS[f"camera_{how}"]})
        coords = report.real_coordinates
        if coords and self.config.school.sites:
            site = geo.nearest_site(coords[0].lat, coords[0].lon, self.config.school.sites)
            if site and site["on_site"]:
                out.append({"signal": "site", "site": site["name"], "distance_m": site["distance_m"],
                            "weight": WEIGHTS["site"]})
        if self.trips:
            day = context.taken_on(report.camera)
            for trip in self.trips:
                place = None
                if coords and trip.place:
                    place = geo.nearest_site(coords[0].lat, coords[0].lon, [trip.place])
                if place and place["on_site"]:
                    out.append({"signal": "trip", "trip": trip.name, "match": "place",
                                "weight": WEIGHTS["trip_place"]})
                    break
                if day and trip.start <= day <= trip.end:
                    out.append({"signal": "trip", "trip": trip.name, "match": "dates", "date": day.isoformat(),
                                "weight": WEIGHTS["trip_dates"]})
                    break
        return out

    def _picture_signals(self, img) -> list[dict]:
        phash = _images().phash
        out = []
        if len(self.library):
            match = self.library.lookup(phash.query_hashes(img), self.settings["possible_distance"])
            if match:
                sure = match.distance <= self.settings["match_distance"]
                out.append({"signal": "library", "match": "yes" if sure else "possible", **match.to_evidence(),
                            "weight": WEIGHTS["library" if sure else "library_possible"]})
        if self.badges:
            import numpy as np
            badge = self.badges.match(np.asarray(img))
            if badge:
                out.append({"signal": "badge", "logo": Path(badge.logo).name, "inliers": badge.inliers,
                            "weight": WEIGHTS["badge"]})
        return out

    def _faces_could_matter(self, signals: list[dict]) -> bool:
        """Whether people in the picture would change the outcome; the face detector is the costly part."""
        faces = {"signal": "faces", "count": 1, "weight": WEIGHTS["faces"], "group": False}
        without, with_faces = self.judge(signals), self.judge(signals + [faces])
        return (without is None) != (with_faces is None) or (without and without[2] != with_faces[2])

    def _count_faces(self, img) -> int:
        import numpy as np
        return len(_images().faces.detect(np.asarray(img)))

    def _frames(self, data: bytes, kind: str) -> list:
        phash, video = _images().phash, _images().video
        if kind in VIDEOS:
            from PIL import Image
            try:
                arrays = video.frames(data, count=VIDEO_FRAMES, budget_s=VIDEO_BUDGET_S)
            except video.VideoError as exc:
                raise ValueError(f"video not inspected: {exc}") from None
            return [Image.fromarray(a) for a in arrays]
        try:
            return [phash.decode(data)]
        except phash.ImageError:
            return []

    # ----------------------------------------------------------------------------------------------- verdict

    def judge(self, signals: list[dict]) -> tuple[str, dict, str | None] | None:
        """(message, evidence, severity or None for the pack's) when the score is reportable and the picture has
        people in it or a signal that is strong on its own (library match, school camera serial, badge); else None.
        A photo taken on the site or on a trip with no one in it is the location rules' business."""
        score = round(sum(s["weight"] for s in signals), 2)
        if score < self.settings["report"] or all(s["signal"] == "faces" for s in signals):
            return None  # nothing, or people alone: staff may post their own family
        if not any(s["signal"] == "faces" or _strong(s) for s in signals):
            return None
        severity = "high" if score >= self.settings["high"] else None
        evidence = {"score": score, "signals": signals}
        message = self.message("photo", reasons="; ".join(self._reason(s) for s in signals))
        return message, evidence, severity

    def _reason(self, signal: dict) -> str:
        kind, match = signal["signal"], signal.get("match")
        if kind == "library":
            key = "library" if match == "yes" else "library_possible"
        elif kind == "camera":
            key = "camera_serial" if match == "serial" else "camera_model"
        elif kind == "trip":
            key = "trip_place" if match == "place" else "trip_dates"
        elif kind == "faces":
            key = "faces_group" if signal["group"] else "faces"
        else:
            key = kind
        return self.message(key, **signal)


def _strong(signal: dict) -> bool:
    kind, match = signal["signal"], signal.get("match")
    return kind == "badge" or (kind == "library" and match == "yes") or (kind == "camera" and match == "serial")


@functools.cache
def _images() -> types.SimpleNamespace:
    """The picture tools, loaded the first time pupil.image needs one: numpy, OpenCV, FAISS and PyAV load with
    them (about 0.3 s), which a laptop whose pack does not run this rule, and `postguard scan` of a file with no
    picture to look at, never pay."""
    from ..images import badge, faces, library, phash, video  # heavy libraries behind them: see the docstring
    return types.SimpleNamespace(badge=badge, faces=faces, library=library, phash=phash, video=video)
