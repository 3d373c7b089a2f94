"""WebP (RIFF): the EXIF, XMP and C2PA chunks."""
from __future__ import annotations

import struct

from . import jumbf, tiff, xmp
from .report import MediaReport, safely


def parse(data: bytes, start: int, end: int, report: MediaReport) -> None:
    pos = start + 12
    while pos + 8 <= end:
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        body, body_end = pos + 8, pos + 8 + size
        if body_end > end:
            report.warn(f"WebP: {fourcc.decode('latin-1')} chunk cut short")
            body_end = end
        if fourcc == b"EXIF":
            lo = body + 6 if data[body:body + 6] == b"Exif\0\0" else body
            safely(report, "EXIF", tiff.parse, data, lo, body_end, report, "EXIF (WebP)")
        elif fourcc == b"XMP ":
            safely(report, "XMP", xmp.parse, data, body, body_end, report, "XMP (WebP)")
        elif fourcc == b"C2PA":  # content credentials: a JUMBF manifest store
            safely(report, "C2PA", jumbf.walk, data, body, body_end, report)
        pos = body_end + (size & 1)


def parse_gif(data: bytes, start: int, end: int, report: MediaReport) -> None:
    """GIF keeps XMP raw in an application extension, followed by a 258-byte "magic trailer".

    Blanking bytes inside the packet is safe: the trailer is built so any sub-block walk lands back on it.
    """
    at = data.find(b"\x21\xff\x0bXMP DataXMP", start, end)
    if at < 0:
        return
    lo = at + 14
    hi = data.find(b"\x01\xff\xfe\xfd", lo, end)
    safely(report, "XMP", xmp.parse, data, lo, hi if hi > 0 else end, report, "XMP (GIF)")
