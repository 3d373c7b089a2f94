"""JPEG: the marker segments before the image data (EXIF, XMP, extended XMP, Photoshop/IPTC)."""
from __future__ import annotations

import struct

from . import iptc, tiff, xmp
from .report import MediaReport, Spliced, safely

XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
EXT_XMP_ID = b"http://ns.adobe.com/xmp/extension/\0"
PHOTOSHOP_ID = b"Photoshop 3.0\0"
STANDALONE = set(range(0xD0, 0xDA)) | {0x01, 0xFF}


def parse(data: bytes, start: int, end: int, report: MediaReport, embedded: bool = False) -> None:
    pos = start + 2
    extended: dict[bytes, list[tuple[int, int, int]]] = {}
    others: list[tuple[int, int]] = []
    first_patch = len(report.patches)
    metadata: list[tuple[int, int]] = []  # the APPn and COM segments: the only bytes strip may write
    while pos + 4 <= end:
        if data[pos] != 0xFF:  # junk between segments: resynchronise on the next marker, as ExifTool does
            nxt = data.find(b"\xff", pos, min(end, pos + 65536))
            report.warn(f"JPEG: skipped junk at byte {pos}")
            if nxt < 0:
                break
            pos = nxt
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in STANDALONE:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan: metadata is all before it
            break
        length = struct.unpack_from(">H", data, pos + 2)[0]
        body, seg_end = pos + 4, pos + 2 + length
        if length < 2:
            report.warn(f"JPEG: bad segment length at byte {pos}")
            break
        if seg_end > end:
            report.warn("JPEG: file cut inside a metadata segment")
            seg_end = end
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            metadata.append((pos, seg_end))
        if marker == 0xE1:
            head = data[body:body + 35]
            if head[:4] == b"Exif" and (head[6:8] in (b"II", b"MM") or head[5:7] in (b"II", b"MM")):
                tiff_at = body + 6 if head[6:8] in (b"II", b"MM") else body + 5  # some writers drop a NUL
                # Values may lie past the segment's end (real cameras do this); readers follow them, so do we.
                safely(report, "EXIF", tiff.parse, data, tiff_at, end, report, "EXIF")
            elif head.startswith(XMP_ID):
                safely(report, "XMP", xmp.parse, data, body + len(XMP_ID), seg_end, report, "XMP")
            elif head.startswith(EXT_XMP_ID):
                p = body + len(EXT_XMP_ID)
                if p + 40 <= seg_end:
                    guid = bytes(data[p:p + 32])
                    offset = struct.unpack_from(">I", data, p + 36)[0]
                    extended.setdefault(guid, []).append((offset, p + 40, seg_end))
        elif marker == 0xE2 and data[body:body + 4] == b"MPF\0" and not embedded:
            safely(report, "MPF", _mpf, data, body + 4, end, others)
        elif marker == 0xED and data[body:body + 14] == PHOTOSHOP_ID:
            safely(report, "Photoshop", iptc.parse_irb, data, body + 14, seg_end, report)
        pos = seg_end
    for guid, parts in extended.items():
        _extended_xmp(data, sorted(parts), report)
    _keep_to_metadata(report, first_patch, metadata)
    for lo, hi in others:  # the other images of a multi-picture file (gain maps, depth maps) carry EXIF too
        if data[lo:lo + 3] == b"\xff\xd8\xff":
            parse(data, lo, hi, report, embedded=True)


def _keep_to_metadata(report: MediaReport, first: int, metadata: list[tuple[int, int]]) -> None:
    """EXIF values may lie past their APP1 segment (real cameras do this), and readers follow them, so do we; but a
    patch outside every metadata segment would write into the picture's tables or scan data. Such a file's location
    is reported and never removed: its patches are dropped and strip refuses."""
    stray = [p for p in report.patches[first:] if not any(lo <= p.start and p.end <= hi for lo, hi in metadata)]
    if stray:
        report.patches[first:] = [p for p in report.patches[first:] if p not in stray]
        report.fail(f"JPEG: location data lies outside the metadata segments (at byte {stray[0].start}); it cannot be "
                    "removed without touching the picture")


def _mpf(data: bytes, tiff_at: int, end: int, others: list[tuple[int, int]]) -> None:
    """The Multi-Picture Format index: where the file's other JPEG images start, relative to this header."""
    t = tiff.Tiff(data, tiff_at, end)
    for tag, typ, count, vpos, size, _ in t.entries(t.first_ifd):
        if tag == 0xB002 and vpos is not None:
            for i in range(min(size // 16, 16)):
                img_size, offset = t.u32(vpos + 16 * i + 4), t.u32(vpos + 16 * i + 8)
                if offset:
                    others.append((tiff_at + offset, min(tiff_at + offset + img_size, end)))


def _extended_xmp(data: bytes, parts: list[tuple[int, int, int]], report: MediaReport) -> None:
    """Reassemble an extended XMP packet split over APP1 segments; its spans map back to the file."""
    expected = 0
    for offset, lo, hi in parts:
        if offset != expected:
            report.warn("XMP: extended packet has a gap")
            return
        expected += hi - lo
    packet = Spliced(data, [(lo, hi) for _, lo, hi in parts])
    safely(report, "XMP", xmp.parse, packet.buf, 0, len(packet.buf), report, "XMP (extended)", packet.pieces)
