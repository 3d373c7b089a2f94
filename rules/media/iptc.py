"""IPTC-IIM datasets, and the Photoshop resource blocks that carry them: IPTC place names, and the EXIF (0x0422) and
XMP (0x0424) blocks Photoshop keeps beside them (ExifTool's Photoshop.pm), which can hold a GPS IFD or exif:GPS*."""
from __future__ import annotations

import hashlib
import struct

from . import tiff, xmp  # tiff imports this module too: both only reach each other's names at call time
from .report import MediaReport, Patch, Place, apply_patches, safely

PLACE_DATASETS = {26: "ContentLocationCode", 27: "ContentLocationName", 90: "City", 92: "Sub-location",
                  95: "Province-State", 100: "Country-PrimaryLocationCode", 101: "Country-PrimaryLocationName"}
IRB_IPTC, IRB_IPTC_DIGEST, IRB_EXIF, IRB_XMP = 0x0404, 0x0425, 0x0422, 0x0424


def parse_iim(data: bytes, start: int, end: int, report: MediaReport) -> None:
    pos, end = start, min(end, len(data))
    while pos + 5 <= end and data[pos] == 0x1C:
        record, dataset, length = data[pos + 1], data[pos + 2], struct.unpack_from(">H", data, pos + 3)[0]
        pos += 5
        if length & 0x8000:  # extended dataset: the length's length follows; never a place name
            n = length & 0x7FFF
            if n > 4 or pos + n > end:
                break
            length = int.from_bytes(data[pos:pos + n], "big")
            pos += n
        if pos + length > end:
            report.warn("IPTC: dataset runs past its block")
            break
        if record == 2 and dataset in PLACE_DATASETS and length:
            value = data[pos:pos + length].decode("utf-8", "replace").strip("\0 ")
            if value:
                report.places.append(Place(f"IPTC {PLACE_DATASETS[dataset]}", value))
                report.patches.append(Patch(pos, pos + length, b" " * length))
        pos += length


def parse_irb(data: bytes, start: int, end: int, report: MediaReport) -> int | None:
    """Photoshop image resource blocks: '8BIM', id, padded Pascal name, size, data padded to even.

    Returns where the IPTC digest lies, if there is one, for a caller whose IPTC block sits elsewhere (TIFF).
    """
    pos, end = start, min(end, len(data))
    iim = digest = None
    while pos + 12 <= end and data[pos:pos + 4] in (b"8BIM", b"PHUT", b"DCSR", b"AgHg", b"MeSa"):
        rid = struct.unpack_from(">H", data, pos + 4)[0]
        name_len = data[pos + 6]
        pos += 6 + ((name_len + 2) & ~1)
        if pos + 4 > end:
            break
        size = struct.unpack_from(">I", data, pos)[0]
        pos += 4
        if pos + size > end:
            report.warn("Photoshop: resource block runs past its segment")
            size = end - pos
        if rid == IRB_IPTC:
            before = len(report.patches)
            parse_iim(data, pos, pos + size, report)
            if len(report.patches) > before:
                iim = (pos, pos + size, report.patches[before:])
        elif rid == IRB_IPTC_DIGEST and size == 16:
            digest = pos
        elif rid == IRB_EXIF and data[pos:pos + 2] in (b"II", b"MM"):  # a whole TIFF structure, offsets from it
            safely(report, "Photoshop EXIF", tiff.parse, data, pos, pos + size, report, "EXIF (Photoshop)")
        elif rid == IRB_XMP:
            safely(report, "Photoshop XMP", xmp.parse, data, pos, pos + size, report, "XMP (Photoshop)")
        pos += size + (size & 1)
    if iim and digest is not None:
        refresh_digest(data, iim[0], iim[1], iim[2], digest, report)
    return digest


def refresh_digest(data: bytes, lo: int, hi: int, patches: list[Patch], digest: int, report: MediaReport) -> None:
    """Readers compare the IPTCDigest with an MD5 of the IPTC block to tell whether XMP and IPTC agree."""
    block = apply_patches(data[lo:hi], [Patch(p.start - lo, p.end - lo, p.data) for p in patches])
    report.patches.append(Patch(digest, digest + 16, hashlib.md5(block).digest()))
