"""Read where a photo or video was made from its metadata, and remove it losslessly.

`inspect(data)` sniffs the container from its content (never the file name), walks only its metadata structures and
returns a `MediaReport`. `strip(data)` applies the report's patches and checks the result is clean. The formats, their
tests and their walkers are one table, in `formats`.
"""
from __future__ import annotations

from . import insta360, isobmff, jpeg, pixels
from .formats import FORMATS, PICTURE, WALKERS, sniff, sniff_unsniffed
from .report import Coordinate, MediaReport, Patch, Place, apply_patches, safely, splice

__all__ = ["Coordinate", "MediaReport", "Patch", "Place", "StripError", "inspect", "inspect_file", "sniff", "splice", "strip"]


FORMATS_BY_NAME = {f.name: f for f in FORMATS}


class StripError(ValueError):
    """The file still shows a location after removal; it must not be sent as 'cleaned'."""


def inspect_file(submission, att) -> MediaReport:
    """`inspect(att.data)`, once per file of a submission: several detectors read the same file's metadata."""
    report = submission.reports.get(id(att.data))  # the submission holds the bytes, so the id stays theirs
    if report is None:
        report = submission.reports[id(att.data)] = inspect(att.data)
    return report


def inspect(data: bytes) -> MediaReport:
    """What the file's metadata says about location. Never raises on bad input: problems become warnings."""
    report = MediaReport(format=sniff(data))
    walker = WALKERS.get(report.format)
    if walker:
        safely(report, report.format, walker, data, 0, len(data), report)
    elif report.format is None and (unnamed := sniff_unsniffed(data)) in WALKERS:
        safely(report, unnamed, WALKERS[unnamed], data, 0, len(data), report)  # WebM: formats.py says why unnamed
    else:
        _fragment(data, report)
    return report


def _fragment(data: bytes, report: MediaReport) -> None:
    """The last chunk of a resumable video upload starts mid-file; an MP4's `moov` (with its location) is often
    there. Find the box by its header and walk it where it lies. The last chunk of a photo's upload ends with the
    photo's trailer: Samsung's SEFT and Insta360's say where they start from the end, so they are read too."""
    if data[-4:] == b"SEFT" and len(data) >= 20:
        report.format = "JPEG trailer fragment"
        safely(report, "Samsung trailer", jpeg.seft, data, 0, len(data), report, [])
        return
    if data[-32:] == insta360.MAGIC:
        report.format = "JPEG trailer fragment"
        safely(report, "Insta360 trailer", insta360.parse, data, 0, len(data), report)
        return
    at = data.rfind(b"moov", 0, len(data) - 8)
    while at >= 4:
        size = int.from_bytes(data[at - 4:at], "big")
        if 8 < size <= len(data) - at + 4 and data[at + 8:at + 12] in (b"mvhd", b"meta", b"udta", b"trak",
                                                                        b"iods", b"prfl", b"cmov"):
            report.format = "MP4 fragment"
            safely(report, "MP4 fragment", isobmff.parse, data, at - 4, at - 4 + size, report)
            return
        at = data.rfind(b"moov", 0, at)


def strip(data: bytes, report: MediaReport | None = None) -> bytes:
    """The file with every location item blanked in place; raises StripError if any location survives."""
    report = report or inspect(data)
    if report.errors:  # what was not read may hold a location, and what was read may point into the picture
        raise StripError(f"PostGuard could not read all of this file's metadata ({report.errors[0]}), so it cannot "
                         "say the file is clean")
    if not report.patches:
        if report.real_coordinates or report.places:
            raise StripError("location found, but PostGuard cannot remove it from this file safely")
        return data
    out = apply_patches(data, report.patches)
    if len(out) > len(data):
        raise StripError("removal would make the file larger, which it never should")
    after = inspect(out)
    if after.real_coordinates or after.places:
        raise StripError("location still present after removal: " +
                         ", ".join(c.source for c in after.real_coordinates) +
                         ", ".join(p.field for p in after.places))
    fmt = FORMATS_BY_NAME.get(report.format)
    if fmt is not None and fmt.kind == PICTURE and fmt.decoded and fmt.name != "JPEG":  # JPEG: see pixels.py
        try:
            problem = pixels.same_pixels(data, out)
        except pixels.Unproven:
            problem = ""  # no decoder reads the original: the walker's bounds are all the proof there is
        if problem:
            raise StripError(f"removing the location would change the picture: {problem}")
    return out
