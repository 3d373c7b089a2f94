"""ISO base media files: HEIF/HEIC/AVIF, CR3, MP4/MOV/3GP and the JPEG XL container.

Hand-written because no maintained Python library walks HEIF items, QuickTime keyed metadata, 3GPP `loci` and GoPro
telemetry tracks and also reports where each box lies, which in-place removal needs. Only box headers are read;
`mdat` is skipped by its size (apart from the first samples of a GPMF track).
"""
from __future__ import annotations

import re
import struct
import zlib

import brotlicffi

from . import camm, gpmf, insta360, jpeg, jumbf, sony, telemetry_text, tiff, xmp  # jpeg imports this module too: names reached at call time
from .boxes import Box, boxes  # noqa: F401  (Box: re-exported)
from .report import Budget, Coordinate, MediaReport, OverBudget, Patch, Place, Spliced, blank, safely

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"iprp", b"ipco", b"moof",
              b"traf", b"mvex", b"meta", b"ilst"}
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
LOCATION_KEYS = {b"com.apple.quicktime.location.ISO6709": "coords",
                 b"com.apple.quicktime.location.name": "QuickTime LocationName",
                 b"com.apple.quicktime.location.body": "QuickTime LocationBody",
                 b"com.apple.quicktime.location.note": "QuickTime LocationNote"}
ISO6709 = re.compile(rb"^\s*([+-]\d+(?:\.\d*)?)([+-]\d+(?:\.\d*)?)")
CAMERA_KEYS = {b"com.apple.quicktime.make": "make", b"com.apple.quicktime.model": "model",
               b"com.apple.quicktime.creationdate": "taken"}  # what an iPhone or iPad video says made it, and when
# Timed-metadata tracks that carry a position, by their sample entry: what reads them (GoPro's gpmd: gpmf.track,
# run on every track as it always was).
TIMED_METADATA = {b"rtmd": ("Sony rtmd", sony.track), b"camm": ("camm", camm.track),
                  b"tx3g": ("subtitle telemetry", telemetry_text.track),
                  b"text": ("subtitle telemetry", telemetry_text.track)}
META_CHILDREN = {b"hdlr", b"keys", b"ilst", b"iinf", b"pitm", b"dinf", b"iloc"}
MAX_DEPTH = 10
# iloc, bounded: an iloc whose fields are zero bytes wide costs nothing to claim 65535 items x 65535 extents (a 1.3 KB
# HEIF took 9 s and 1 GB). Real files: under a few hundred items, a handful of extents each.
MAX_ITEMS = 10000  # items in one iloc
MAX_ITEM_EXTENTS = 1024  # extents of one item
MAX_EXTENTS = 20000  # extents in one iloc
MAX_ITEM_BYTES = 8 << 20  # an Exif or XMP item larger than this is not read (an error)
MAX_ITEMS_BYTES = 32 << 20  # bytes read from all Exif and XMP items of one file


def parse(data: bytes, start: int, end: int, report: MediaReport) -> None:
    # One budget for the whole file: many meta boxes, each with an iloc or pointing at the same large item, must not
    # each get their own.
    trailer = insta360.found(data, start, end)  # Insta360's videos end with their GPS log after the last box
    if trailer is not None:
        safely(report, "Insta360 trailer", insta360.parse, data, start, end, report)
        end = trailer
    _walk(data, start, end, report, 0, None, budget=_Budgets())


class _Budgets:
    def __init__(self):
        self.bytes = Budget("HEIF: bytes of Exif and XMP items", MAX_ITEMS_BYTES)
        self.extents = Budget("HEIF: iloc extents", MAX_EXTENTS)


def _walk(data: bytes, start: int, end: int, report: MediaReport, depth: int, parent: bytes | None,
          keys: list[bytes] | None = None, budget: _Budgets | None = None) -> None:
    budget = budget or _Budgets()
    if depth > MAX_DEPTH:
        return
    for box in boxes(data, start, end, report):
        t = box.type
        if t == b"meta":
            body = box.body
            if data[body + 4:body + 8] not in META_CHILDREN:
                body += 4  # ISO FullBox; QuickTime's meta has no version/flags
            safely(report, "HEIF", _heif, data, body, box.end, report, budget)
            meta_keys = _keys(data, body, box.end, report)
            _walk(data, body, box.end, report, depth + 1, t, meta_keys, budget)
        elif t == b"trak":
            safely(report, "GPMF", gpmf.track, data, box, report)  # it checks the track is GoPro's itself
            reader = TIMED_METADATA.get(gpmf.sample_entry(data, box, report))
            if reader:
                safely(report, reader[0], reader[1], data, box, report)
            _walk(data, box.body, box.end, report, depth + 1, t, budget=budget)
        elif t in CONTAINERS:
            _walk(data, box.body, box.end, report, depth + 1, t, keys, budget)
        elif t in (b"\xa9xyz", b"@xyz") and parent in (b"udta", b"ilst"):  # @xyz: ExifTool's UserData table
            _xyz(data, box, report, parent)
        elif t == b"loci":
            safely(report, "3GPP loci", _loci, data, box, report)
        elif parent == b"ilst" and keys and t[:2] == b"\0\0":
            _keyed(data, box, keys, report)
        elif t == b"xml " and parent == b"meta" and depth > 0:  # an ISO meta box's XMLBox (FullBox): XMP
            safely(report, "XMP", xmp.parse, data, box.body + 4, box.end, report, "XMP (meta xml)")
        elif t == b"XMP_" or (t == b"uuid" and box.uuid == XMP_UUID):
            safely(report, "XMP", xmp.parse, data, box.body, box.end, report, "XMP (QuickTime)")
        elif t == b"uuid" and box.uuid == CANON_UUID:
            _canon(data, box, report)
        elif t == b"uuid" and box.uuid == jumbf.C2PA_UUID:
            safely(report, "C2PA", jumbf.isobmff_uuid, data, box.body, box.end, report)
        elif t == b"GPMF" and parent == b"udta":  # GoPro: the camera's GPMF, apart from the telemetry track
            safely(report, "GPMF", gpmf.stream, data, box.body, box.end, report, "GoPro GPMF (udta)")
        elif t == b"Exif" and depth == 0:  # JPEG XL
            if box.body + 4 <= box.end:
                lo = box.body + 4 + struct.unpack_from(">I", data, box.body)[0]
                safely(report, "EXIF", tiff.parse, data, lo, box.end, report, "EXIF (JPEG XL)")
        elif t == b"xml " and depth == 0:
            safely(report, "XMP", xmp.parse, data, box.body, box.end, report, "XMP (JPEG XL)")
        elif t == b"brob" and depth == 0:
            safely(report, "JPEG XL", _brob, data, box, report, budget)
        elif t == b"mpvd" and depth == 0:  # Samsung's motion-photo HEIC: the video, an MP4 inside this box
            _walk(data, box.body, box.end, report, depth + 1, t, budget=budget)
        elif t == b"sefd" and depth == 0:  # Samsung's trailer, as a box of a HEIC
            safely(report, "Samsung trailer", jpeg.seft, data, box.body, box.end, report, [])


BROTLI_STEP = 1 << 20


def _brob(data: bytes, box: Box, report: MediaReport, budget: _Budgets) -> None:
    """JPEG XL's brotli-compressed box: the first 4 bytes name the box it holds. An Exif, XMP or C2PA box is
    inflated (within the file's budget) and read; one holding a location becomes `free`, since its compressed bytes
    cannot be blanked in place."""
    inner = bytes(data[box.body:box.body + 4])
    if inner not in (b"Exif", b"xml ", b"jumb"):
        return
    cap = min(MAX_ITEM_BYTES, budget.bytes.left)
    d, pieces, size = brotlicffi.Decompressor(), [], 0
    piece = d.process(bytes(data[box.body + 4:box.end]), output_buffer_limit=BROTLI_STEP)
    while True:
        pieces.append(piece)
        size += len(piece)
        if size > cap:
            raise OverBudget(f"JPEG XL: a compressed {inner.decode()} box inflates past {cap} bytes")
        if d.can_accept_more_data():
            break
        piece = d.process(b"", output_buffer_limit=BROTLI_STEP)
        if not piece:
            break
    if not d.is_finished():
        raise ValueError("JPEG XL: a compressed metadata box ends before its brotli stream")
    budget.bytes.take(size)
    buf, sub = b"".join(pieces), MediaReport()
    if inner == b"Exif" and len(buf) >= 4:
        tiff.parse(buf, 4 + struct.unpack_from(">I", buf, 0)[0], len(buf), sub, "EXIF (JPEG XL, compressed)")
    elif inner == b"xml ":
        xmp.parse(buf, 0, len(buf), sub, "XMP (JPEG XL, compressed)")
    elif inner == b"jumb":
        jumbf.walk(buf, 0, len(buf), sub)
    report.coordinates += sub.coordinates
    report.places += sub.places
    for e in sub.errors:
        report.fail(e)
    if sub.real_coordinates or sub.places:
        report.patches.extend(_free(box))


def _keys(data: bytes, start: int, end: int, report: MediaReport) -> list[bytes] | None:
    for box in boxes(data, start, end, report):
        if box.type == b"keys":
            n = struct.unpack_from(">I", data, box.body + 4)[0]
            pos, out = box.body + 8, []
            for _ in range(min(n, 4096)):
                if pos + 8 > box.end:
                    break
                size = struct.unpack_from(">I", data, pos)[0]
                if size < 8:
                    break
                out.append((bytes(data[pos + 8:pos + size]), pos))
                pos += size
            return out
    return None


def _keyed(data: bytes, box: Box, keys, report: MediaReport) -> None:
    index = struct.unpack_from(">I", data, box.start + 4)[0]
    if not 1 <= index <= len(keys):
        return
    name, key_pos = keys[index - 1]
    if name in CAMERA_KEYS:
        for d in boxes(data, box.body, box.end, report):
            if d.type == b"data" and d.body + 8 <= d.end:
                text = bytes(data[d.body + 8:d.end]).decode("utf-8", "replace").strip("\0 ")
                report.camera.setdefault(CAMERA_KEYS[name], text)
        return
    what = LOCATION_KEYS.get(name)
    if not what:
        return
    for d in boxes(data, box.body, box.end, report):
        if d.type != b"data" or d.body + 8 > d.end:
            continue
        value = data[d.body + 8:d.end]
        if what == "coords":
            _iso6709(value, "QuickTime Keys ISO6709", report)
        elif value.strip(b"\0 "):
            report.places.append(Place(what, value.decode("utf-8", "replace").strip("\0 ")))
        report.patches.append(blank(d.body + 8, d.end, b" "))
    # Rename the key too, so no reader takes the blanked value for a location: same length, not a location key.
    report.patches.append(Patch(key_pos + 8, key_pos + 8 + len(name), b"com.postguard.removed".ljust(len(name), b"_")))


def _iso6709(value: bytes, source: str, report: MediaReport) -> None:
    m = ISO6709.match(value)
    if m:
        report.coordinates.append(Coordinate(float(m.group(1)), float(m.group(2)), source))


def _free(box: Box) -> list[Patch]:
    """Turn a box into `free` with zeroed contents: readers skip it, and nothing after it moves."""
    return [Patch(box.start + 4, box.start + 8, b"free"), blank(box.start + 8, box.end)]


def _xyz(data: bytes, box: Box, report: MediaReport, parent: bytes) -> None:
    if parent == b"ilst":  # iTunes-style item: a data box inside
        for d in boxes(data, box.body, box.end, report):
            if d.type == b"data":
                _iso6709(data[d.body + 8:d.end], "QuickTime ItemList ©xyz", report)
    elif box.body + 4 <= box.end:
        n = struct.unpack_from(">H", data, box.body)[0]
        _iso6709(data[box.body + 4:min(box.body + 4 + n, box.end)], "QuickTime UserData ©xyz", report)
    report.patches.extend(_free(box))


def _loci(data: bytes, box: Box, report: MediaReport) -> None:
    pos = box.body + 6  # version/flags, language
    raw = data[pos:box.end]
    if raw[:2] in (b"\xfe\xff", b"\xff\xfe"):
        end = raw.find(b"\0\0", 2)
        end += end & 1
        name, pos = raw[2:end].decode("utf-16", "replace"), pos + end + 2
    else:
        end = raw.find(b"\0")
        name, pos = raw[:end].decode("utf-8", "replace"), pos + end + 1
    if name.strip():
        report.places.append(Place("3GPP loci name", name.strip()))
    if pos + 9 <= box.end:
        lon, lat = struct.unpack_from(">ii", data, pos + 1)
        report.coordinates.append(Coordinate(lat / 65536, lon / 65536, "3GPP loci"))
    report.patches.extend(_free(box))


def _canon(data: bytes, box: Box, report: MediaReport) -> None:
    for b in boxes(data, box.body, box.end, report):
        if b.type in (b"CMT1", b"CMT2"):
            safely(report, "CR3", tiff.parse, data, b.body, b.end, report, "EXIF (CR3)")
        elif b.type == b"CMT4":
            safely(report, "CR3", tiff.parse, data, b.body, b.end, report, "EXIF (CR3 CMT4)", True)


def _heif(data: bytes, start: int, end: int, report: MediaReport, budget: _Budgets | None = None) -> None:
    """HEIF items: find the Exif and XMP items in iinf, their bytes through iloc (or idat)."""
    items: dict[int, tuple[bytes, bytes]] = {}
    locations: dict[int, list[tuple[int, int]]] = {}
    idat = None
    budget = budget or _Budgets()
    for box in boxes(data, start, end, report):
        if box.type == b"iinf":
            version = data[box.body]
            pos = box.body + (6 if version == 0 else 8)
            for infe in boxes(data, pos, box.end, report):
                if infe.type == b"infe" and data[infe.body] >= 2:
                    v = data[infe.body]
                    p = infe.body + 4
                    item_id = struct.unpack_from(">H" if v == 2 else ">I", data, p)[0]
                    p += 2 if v == 2 else 4
                    item_type = bytes(data[p + 2:p + 6])
                    rest = bytes(data[p + 6:infe.end])
                    fields = rest.split(b"\0")  # item name, content type, content encoding (mime items)
                    content_type = fields[1] if len(fields) >= 3 else b""
                    encoding = fields[2].strip() if len(fields) >= 3 and item_type == b"mime" else b""
                    items[item_id] = (item_type, content_type, encoding, p + 2)
        elif box.type == b"iloc":
            locations = _iloc(data, box, budget.extents)
        elif box.type == b"idat":
            idat = box.body
    for item_id, (item_type, content_type, encoding, type_at) in items.items():
        if item_type == b"Exif" or (item_type == b"mime" and b"xmp" in content_type.lower() or
                                     content_type == b"application/rdf+xml"):
            spans = []
            for method, lo, hi in locations.get(item_id, []):
                if method == 1:
                    if idat is None:
                        continue
                    lo, hi = lo + idat, hi + idat
                lo, hi = min(lo, len(data)), min(hi, len(data))
                if lo < hi:
                    spans.append((lo, hi))
            if not spans:
                continue
            # Sized before any buffer is built: extents of one item never overlap, so they never add up to more
            # than the file; and an item too large to be metadata is not read.
            size = sum(hi - lo for lo, hi in spans)
            if size > len(data):
                report.fail(f"HEIF: item {item_id}'s extents add up to {size} bytes, more than the file's "
                            f"{len(data)}; not read")
                continue
            if size > MAX_ITEM_BYTES:
                report.fail(f"HEIF: item {item_id} ({item_type.decode('latin-1')}) is {size} bytes, larger than "
                            f"PostGuard reads ({MAX_ITEM_BYTES}); not read")
                continue
            budget.bytes.take(size)
            item = Spliced(data, spans) if len(spans) > 1 else None
            buf, lo, hi = (item.buf, 0, len(item.buf)) if item else (data, spans[0][0], spans[0][1])
            sub = MediaReport() if item else report
            if encoding:  # a compressed XMP item: inflated, and removed whole if it holds a location
                safely(report, "XMP", _encoded_xmp, buf, lo, hi, encoding, type_at, spans, report, budget)
                continue
            if item_type == b"Exif":
                if hi - lo < 4:
                    continue
                skip = struct.unpack_from(">I", buf, lo)[0]
                safely(report, "EXIF", tiff.parse, buf, lo + 4 + skip, hi, sub, "EXIF (HEIF)")
            else:
                safely(report, "XMP", xmp.parse, buf, lo, hi, sub, "XMP (HEIF)")
            if item:
                report.coordinates += sub.coordinates
                report.places += sub.places
                report.patches += item.map_patches(sub.patches)


def _encoded_xmp(buf: bytes, lo: int, hi: int, encoding: bytes, type_at: int, spans, report: MediaReport,
                 budget: _Budgets) -> None:
    """A `mime` XMP item with a content encoding (HEIF allows HTTP's, as ExifTool reads them): deflate or gzip,
    inflated within the file's budget. One that holds a location is removed whole: its bytes zeroed and its item
    type renamed, so readers skip the item instead of failing to inflate it."""
    if encoding.lower() not in (b"deflate", b"gzip"):
        raise ValueError(f"HEIF: an XMP item encoded as {encoding.decode('latin-1')!r}, which PostGuard cannot read")
    cap = min(MAX_ITEM_BYTES, budget.bytes.left)
    inflater = zlib.decompressobj(47)  # zlib or gzip, by their headers
    text = inflater.decompress(bytes(buf[lo:hi]), cap + 1)
    if len(text) > cap:
        raise OverBudget(f"HEIF: a compressed XMP item inflates past {cap} bytes")
    budget.bytes.take(len(text))
    sub = MediaReport()
    xmp.parse(text, 0, len(text), sub, "XMP (HEIF, compressed)")
    report.coordinates += sub.coordinates
    report.places += sub.places
    for e in sub.errors:
        report.fail(e)
    if sub.real_coordinates or sub.places:
        report.patches.append(Patch(type_at, type_at + 4, b"skip"))
        report.patches.extend(blank(a, b) for a, b in spans)


def _iloc(data: bytes, box: Box, budget: Budget | None = None) -> dict[int, list[tuple[int, int, int]]]:
    version = data[box.body]
    p = box.body + 4
    sizes = data[p], data[p + 1]
    offset_size, length_size = sizes[0] >> 4, sizes[0] & 15
    base_size, index_size = sizes[1] >> 4, (sizes[1] & 15) if version in (1, 2) else 0
    p += 2
    count = struct.unpack_from(">H" if version < 2 else ">I", data, p)[0]
    p += 2 if version < 2 else 4

    def read(n: int) -> int:
        nonlocal p
        if p + n > box.end:
            raise ValueError("iloc cut short")
        v = int.from_bytes(data[p:p + n], "big") if n else 0
        p += n
        return v

    if count > MAX_ITEMS:
        raise OverBudget(f"HEIF: iloc lists {count} items, more than PostGuard reads ({MAX_ITEMS})")
    out: dict[int, list[tuple[int, int, int]]] = {}
    total = 0
    for _ in range(count):
        item_id = read(2 if version < 2 else 4)
        method = read(2) & 15 if version in (1, 2) else 0
        read(2)  # data reference index
        base = read(base_size)
        extents = read(2)
        total += extents
        if extents > MAX_ITEM_EXTENTS or total > MAX_EXTENTS:
            raise OverBudget(f"HEIF: iloc lists {extents} extents for item {item_id} ({total} so far), more than "
                             f"PostGuard reads ({MAX_ITEM_EXTENTS} per item, {MAX_EXTENTS} in all)")
        if budget:
            budget.take(extents)  # across all the file's ilocs
        for _ in range(extents):
            read(index_size)
            off, length = read(offset_size), read(length_size)
            out.setdefault(item_id, []).append((method, base + off, base + off + length))
    return out
