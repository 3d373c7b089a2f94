"""JPEG: the marker segments before the image data (EXIF, XMP, extended XMP, Photoshop/IPTC, GoPro's APP6 GPMF,
C2PA's APP11 JUMBF) and what phones append after the picture (Samsung's SEFT trailer, a motion photo's MP4)."""
from __future__ import annotations

import re
import struct

from . import flir, gpmf, insta360, iptc, isobmff, jumbf, tiff, xmp
from .report import MediaReport, Place, Spliced, blank, safely

XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
EXT_XMP_ID = b"http://ns.adobe.com/xmp/extension/\0"
PHOTOSHOP_ID = b"Photoshop 3.0\0"
STANDALONE = set(range(0xD0, 0xDA)) | {0x01, 0xFF}
# Google's motion photos: GCamera:MicroVideoOffset="N" (bytes from the end), or Container:Item Length="N" (the last
# item is the video at the end); both as attributes or elements.
MOTION_PHOTO = re.compile(rb'(?:MicroVideoOffset|Item:Length)(?:\s*+=\s*+"(\d{1,12}+)"|>(\d{1,12}+)<)')
MEDIA_JUKEBOX_PLACES = re.compile(rb"<Places>([^<]{0,4096}+)</Places>")
XMP_OPENINGS = (b"<x:xmpmeta", b"<x:xapmeta", b"<rdf:RDF", b"<exif:")


def parse(data: bytes, start: int, end: int, report: MediaReport, embedded: bool = False) -> None:
    pos = start + 2
    extended: dict[bytes, list[tuple[int, int, int]]] = {}
    others: list[tuple[int, int]] = []
    first_patch = len(report.patches)
    metadata: list[tuple[int, int]] = []  # the APPn and COM segments: the only bytes strip may write
    sos, video = None, 0
    jumbf_parts: list[tuple[int, int]] = []
    flir_parts: list[tuple[int, int]] = []
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
            sos = pos if marker == 0xDA else None
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
                for m in MOTION_PHOTO.finditer(data, body, seg_end):  # the last one names the video at the end
                    video = int(m.group(1) or m.group(2))
            elif head.startswith(EXT_XMP_ID):
                p = body + len(EXT_XMP_ID)
                if p + 40 <= seg_end:
                    guid = bytes(data[p:p + 32])
                    offset = struct.unpack_from(">I", data, p + 36)[0]
                    extended.setdefault(guid, []).append((offset, p + 40, seg_end))
            elif head.startswith(b"FLIR\0\x01"):  # FLIR thermal cameras: FFF data, split over APP1 segments
                flir_parts.append((body, seg_end))
            elif head.startswith(b"http") or any(w in data[body:min(seg_end, body + 512)] for w in XMP_OPENINGS):
                # XMP under another name than Adobe's (ExifTool reads any APP1 that starts "http" or holds
                # "<exif:" as XMP): from its first tag
                first = data.find(b"<", body, seg_end)
                if first >= 0:
                    safely(report, "XMP", xmp.parse, data, first, seg_end, report, "XMP (APP1)")
        elif marker == 0xE2 and data[body:body + 4] == b"MPF\0" and not embedded:
            safely(report, "MPF", _mpf, data, body + 4, end, others)
        elif marker == 0xED and data[body:body + 14] == PHOTOSHOP_ID:
            safely(report, "Photoshop", iptc.parse_irb, data, body + 14, seg_end, report)
        elif marker == 0xE6 and data[body:body + 6] == b"GoPro\0":  # GoPro stills: GPMF, as in its videos
            safely(report, "GoPro APP6", gpmf.stream, data, body + 6, seg_end, report, "GoPro APP6 GPMF")
        elif marker == 0xE9 and data[body:body + 14] == b"Media Jukebox\0":  # J. River's catalogue: <Places>
            for m in MEDIA_JUKEBOX_PLACES.finditer(data, body + 14, seg_end):
                if m.group(1).strip():
                    report.places.append(Place("Media Jukebox Places", m.group(1).decode("utf-8", "replace").strip()))
                    report.patches.append(blank(m.start(1), m.end(1), b" "))
        elif marker == 0xEB and data[body:body + 2] == b"JP" and seg_end - body > 16:
            jumbf_parts.append((body, seg_end))  # C2PA content credentials, split over APP11 segments
        pos = seg_end
    for guid, parts in extended.items():
        _extended_xmp(data, sorted(parts), report)
    if jumbf_parts:
        safely(report, "C2PA", jumbf.jpeg_segments, data, jumbf_parts, report)
    if flir_parts:
        safely(report, "FLIR", flir.jpeg_segments, data, flir_parts, report)
    if not embedded and sos is not None:
        trailer = _trailer(data, sos, end, video)
        if trailer:
            metadata.append(trailer)  # past the picture's end: no decoder draws from it
            safely(report, "JPEG trailer", _walk_trailer, data, *trailer, report, [lo for lo, _ in others])
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


MAX_TRAILER_BLOCKS = 256
MAX_MP4_TRIES = 16


def _trailer(data: bytes, sos: int, end: int, video: int) -> tuple[int, int] | None:
    """Where the bytes after the picture's end (EOI) lie, read only where something says a trailer is there: its own
    structure at the end of the file (Samsung's SEFT directory, Insta360's length) or the XMP's motion-photo video
    length (`video`: Google's GCamera:MicroVideoOffset, or the last Container:Item Length), whose MP4 box chain must
    run to the end. That start is taken when an EOI directly precedes it after the scan header (a decoder stops at
    the first EOI, so nothing after it is drawn); otherwise the EOI is searched for, the first FF D9 after the scan
    header (the coded data escapes every FF). A file that ends with its EOI, or whose trailer no structure explains,
    costs nothing: the search costs 2 ms a megabyte, and phones append trailers of their own (a 3.9 MB photo in the
    corpus ends with one) that hold no location."""
    if data[end - 2:end] == b"\xff\xd9":
        return None
    start = _known_start(data, sos, end, video)
    if start is None and data[end - 4:end] != b"SEFT" and data[end - 32:end] != insta360.MAGIC:
        return None  # (a SEFT or Insta360 ending whose structure does not add up is searched for, then an error)
    if start is not None and start - 2 > sos and data[start - 2:start] == b"\xff\xd9":
        return start, end
    eoi = data.find(b"\xff\xd9", sos, end)
    return (eoi + 2, end) if 0 <= eoi and eoi + 2 < end else None


def _known_start(data: bytes, sos: int, end: int, video: int) -> int | None:
    try:
        if data[end - 4:end] == b"SEFT" and end - sos > 20:
            length = struct.unpack_from("<I", data, end - 8)[0]
            directory = end - 8 - length
            if directory > sos and data[directory:directory + 4] == b"SEFH":
                count = min(struct.unpack_from("<I", data, directory + 8)[0], MAX_TRAILER_BLOCKS)
                backs = [struct.unpack_from("<I", data, directory + 12 + 12 * i + 4)[0] for i in range(count)
                         if directory + 12 + 12 * i + 12 <= end]
                return directory - max(backs) if backs else directory
            return None
        start = insta360.found(data, sos, end)
        if start is not None:
            return start
    except (ValueError, struct.error):
        return None
    start = end - video
    if video and sos < start and data[start + 4:start + 8] == b"ftyp" and _boxes_reach(data, start, end):
        return start
    return None


def _walk_trailer(data: bytes, lo: int, hi: int, report: MediaReport, walked: list[int]) -> None:
    """Samsung's SEFT trailer (its blocks: other pictures with their own EXIF, the motion photo's MP4, the mobile
    network's country); else Insta360's trailer (its GPS log), a picture appended after this one, and a motion
    photo's MP4 at the end (Google's MicroVideo and Motion Photo formats). The other pictures the MPF index lists
    were walked already (`walked`)."""
    if data[hi - 4:hi] == b"SEFT" and hi - lo >= 8:
        seft(data, lo, hi, report, walked)
        return
    insta = insta360.found(data, lo, hi)
    if insta is not None:
        insta360.parse(data, lo, hi, report)
        hi = insta
    if data[lo:lo + 3] == b"\xff\xd8\xff" and lo not in walked:  # another picture after this one, not in an MPF
        parse(data, lo, hi, report, embedded=True)
    _mp4_at_end(data, lo, hi, report)


def seft(data: bytes, lo: int, hi: int, report: MediaReport, walked: list[int]) -> None:
    """ExifTool's Samsung.pm: ... blocks ..., "SEFH" directory, its length (u32 LE), "SEFT". Each directory entry:
    type (u16 at +2), distance back from the directory to the block (u32), block size (u32); each block: 4 bytes,
    name length (u32), name, data."""
    length = struct.unpack_from("<I", data, hi - 8)[0]
    directory = hi - 8 - length
    if directory < lo or length < 12 or data[directory:directory + 4] != b"SEFH":
        raise ValueError("Samsung trailer: no SEFH directory where its length points")
    count = struct.unpack_from("<I", data, directory + 8)[0]
    if count > MAX_TRAILER_BLOCKS or 12 + 12 * count > length:
        raise ValueError(f"Samsung trailer: {count} blocks do not fit its directory")
    for i in range(count):
        kind, back, size = struct.unpack_from("<HII", data, directory + 12 + 12 * i + 2)
        start = directory - back
        if back > directory - lo or size > back or size < 8:
            raise ValueError(f"Samsung trailer: block {i} lies outside the trailer")
        name_len = struct.unpack_from("<I", data, start + 4)[0]
        if name_len + 8 > size:
            raise ValueError(f"Samsung trailer: block {i}'s name is longer than the block")
        name = bytes(data[start + 8:start + 8 + name_len])
        body, body_end = start + 8 + name_len, start + size
        if data[body:body + 3] == b"\xff\xd8\xff":
            if body not in walked:
                parse(data, body, body_end, report, embedded=True)
        elif data[body + 4:body + 8] == b"ftyp":
            isobmff.parse(data, body, body_end, report)
        elif name == b"MCC_Data" and data[body:body_end].strip(b"\0 ").isdigit() and \
                data[body:body_end].strip(b"\0 0"):  # "000": what removal leaves
            # The mobile network's country code: ExifTool's MCCData, a place at the level of a country.
            report.places.append(Place("Samsung trailer MCCData", bytes(data[body:body_end]).decode().strip("\0 ")))
            report.patches.append(blank(body, body_end, b"0"))


def _mp4_at_end(data: bytes, lo: int, hi: int, report: MediaReport) -> None:
    """An MP4 whose top-level boxes run exactly to the end of the file."""
    start = _mp4_start(data, lo, hi)
    if start is not None:
        isobmff.parse(data, start, hi, report)


def _mp4_start(data: bytes, lo: int, hi: int) -> int | None:
    """The last `ftyp` in data[lo:hi] that starts a box chain running exactly to hi."""
    at, tries = data.rfind(b"ftyp", lo + 4, hi), 0
    while at >= lo + 4 and tries < MAX_MP4_TRIES:
        tries += 1
        if _boxes_reach(data, at - 4, hi):
            return at - 4
        at = data.rfind(b"ftyp", lo + 4, at)
    return None


def _boxes_reach(data: bytes, pos: int, hi: int) -> bool:
    for _ in range(4096):
        if pos == hi:
            return True
        if pos + 8 > hi:
            return False
        size = struct.unpack_from(">I", data, pos)[0]
        if size == 1 and pos + 16 <= hi:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        elif size == 0:
            size = hi - pos
        if size < 8 or not data[pos + 4:pos + 8].isascii():
            return False
        pos += size
    return False
