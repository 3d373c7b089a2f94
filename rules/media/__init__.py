"""Read where a photo or video was made from its metadata, and remove it losslessly.

`inspect(data)` sniffs the container from its content (never the file name), walks only its metadata structures and
returns a `MediaReport`. `strip(data)` applies the report's patches and checks the result is clean.
"""
from __future__ import annotations

from . import isobmff, jpeg, png, riff, tiff, xmp
from .report import Coordinate, MediaReport, Patch, Place, apply_patches, safely, splice

__all__ = ["Coordinate", "MediaReport", "Patch", "Place", "StripError", "inspect", "inspect_file", "sniff", "splice", "strip"]

FTYP_HEIF = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2", b"avif", b"avis",
             b"avio"}
QT_FIRST_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid", b"ftyp"}
XMP_STARTS = (b"<?xpacket", b"<x:xmpmeta", b"<x:xapmeta", b"<rdf:RDF", b"<?xml")


class StripError(ValueError):
    """The file still shows a location after removal; it must not be sent as 'cleaned'."""


def sniff(data: bytes) -> str | None:
    head = data[:64]
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == png.SIGNATURE:
        return "PNG"
    if head[:4] in (b"GIF8",):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"MMOR", b"IIU\0"):
        return "TIFF"
    if head[:15] == b"FUJIFILMCCD-RAW":
        return "RAF"
    if head[:2] == b"II" and head[6:14] == b"HEAPCCDR":
        return "CRW"
    if head[:12] == b"\0\0\0\x0cJXL \r\n\x87\n":
        return "JXL"
    if head[:2] == b"\xff\x0a":
        return "JXL codestream"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in FTYP_HEIF:
            return "AVIF" if brand.startswith(b"avi") else "HEIF"
        if brand == b"crx ":
            return "CR3"
        return "MOV" if brand == b"qt  " else "MP4"
    if head[4:8] in QT_FIRST_ATOMS and int.from_bytes(head[:4], "big") >= 8:
        return "MOV"
    if head[:6] == b"Exif\0\0":
        return "EXIF"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(XMP_STARTS) and (b"xmpmeta" in data[:4096] or b"rdf:RDF" in data[:4096]
                                        or b"xapmeta" in data[:4096]):
        return "XMP"
    return None


def _raf(data: bytes, start: int, end: int, report: MediaReport) -> None:
    offset, length = int.from_bytes(data[84:88], "big"), int.from_bytes(data[88:92], "big")
    if data[offset:offset + 3] == b"\xff\xd8\xff":
        jpeg.parse(data, offset, min(offset + length, end), report)


WALKERS = {
    "JPEG": jpeg.parse,
    "PNG": png.parse,
    "GIF": riff.parse_gif,
    "WEBP": riff.parse,
    "TIFF": lambda d, s, e, r: tiff.parse(d, s, e, r, "EXIF"),
    "EXIF": lambda d, s, e, r: tiff.parse(d, s + 6, e, r, "EXIF"),
    "RAF": _raf,
    "JXL": isobmff.parse,
    "HEIF": isobmff.parse,
    "AVIF": isobmff.parse,
    "CR3": isobmff.parse,
    "MP4": isobmff.parse,
    "MOV": isobmff.parse,
    "XMP": lambda d, s, e, r: xmp.parse(d, s, e, r, "XMP sidecar"),
}


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
    else:
        _fragment(data, report)
    return report


def _fragment(data: bytes, report: MediaReport) -> None:
    """The last chunk of a resumable video upload starts mid-file; an MP4's `moov` (with its location) is often
    there. Find the box by its header and walk it where it lies."""
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
    if not report.patches:
        if report.real_coordinates or report.places:
            raise StripError("location found, but PostGuard cannot remove it from this file safely")
        return data
    out = apply_patches(data, report.patches)
    after = inspect(out)
    if after.real_coordinates or after.places:
        raise StripError("location still present after removal: " +
                         ", ".join(c.source for c in after.real_coordinates) +
                         ", ".join(p.field for p in after.places))
    return out
