"""C2PA content credentials (JUMBF, ISO 19566-5): the location their assertions carry.

A C2PA manifest store is a tree of JUMBF boxes (`jumb` superboxes, each described by a `jumd`). The `stds.exif`
assertion (and `c2pa.metadata`) holds EXIF as JSON-LD, `"exif:GPSLatitude": "39,21.102N"`, in a `json` box, or the
same keys in a `cbor` box. JPEG carries the store in APP11 segments, PNG in a `caBX` chunk, WebP in a `C2PA` chunk,
ISO BMFF files in a `uuid` box. Removal blanks each GPS value in place (spaces in a string, `0` and spaces for a
number), so the JSON and CBOR stay well-formed and the same length; the claim's signature no longer matches, which is
what a removed location means for content credentials (a C2PA reader says the asset was changed after signing).
"""
from __future__ import annotations

import re
import struct

from . import xmp
from .boxes import boxes
from .report import Coordinate, MediaReport, Patch, Place, Spliced

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
MAX_STORE = 16 << 20  # a manifest store larger than this is not read (an error)
MAX_DEPTH = 16
# "exif:GPSLatitude": "39,21.102N" or: 53.38 (JSON). Possessive, and every value bounded: linear on any input.
_JSON = re.compile(rb'"(?:exif:)?+(GPS\w{1,40}+)"\s*+:\s*+("[^"\\]{0,256}+"|-?+[0-9][0-9.eE+-]{0,40}+)')
GPS_KEYS = ("GPSLatitude", "GPSLongitude", "GPSLatitudeRef", "GPSLongitudeRef", "GPSAreaInformation", "GPSAltitude",
            "GPSDestLatitude", "GPSDestLongitude")
# The same keys as CBOR text strings (a header byte 0x60 + length, all under 24 bytes), longest first.
_CBOR_KEY = re.compile(b"|".join(re.escape(bytes([0x60 + len(k)]) + k) for k in sorted(
    (p.encode() + k.encode() for k in GPS_KEYS for p in ("exif:", "")), key=len, reverse=True)))


def walk(data: bytes, lo: int, hi: int, report: MediaReport, depth: int = 0) -> None:
    """A JUMBF box sequence at data[lo:hi]."""
    if hi - lo > MAX_STORE:
        report.fail(f"C2PA: a manifest store of {hi - lo} bytes is larger than PostGuard reads ({MAX_STORE})")
        return
    if depth > MAX_DEPTH:
        raise ValueError(f"C2PA: JUMBF boxes nested more than {MAX_DEPTH} deep")
    for box in boxes(data, lo, hi, report):
        if box.type == b"jumb":
            walk(data, box.body, box.end, report, depth + 1)
        elif box.type in (b"json", b"cbor"):
            _values(data, box.body, box.end, box.type == b"json", report)


def _values(data: bytes, lo: int, hi: int, is_json: bool, report: MediaReport) -> None:
    found: dict[str, str] = {}
    spans: list[tuple[int, int, bytes]] = []
    if is_json:
        for m in _JSON.finditer(data, lo, hi):
            key, raw = m.group(1).decode(), m.group(2)
            a, b = m.span(2)
            if raw.startswith(b'"'):
                found.setdefault(key, raw[1:-1].decode("utf-8", "replace"))
                spans.append((a + 1, b - 1, b" " * (b - a - 2)))
            else:
                found.setdefault(key, raw.decode())
                spans.append((a, b, b"0" + b" " * (b - a - 1)))
    else:
        for m in _CBOR_KEY.finditer(data, lo, hi):
            key = m.group()[1:].split(b"GPS", 1)[1]
            at = m.end()
            if at >= hi:
                continue
            head = data[at]
            n, skip = (head - 0x60, 1) if 0x60 <= head < 0x78 else ((data[at + 1], 2) if head == 0x78 else (-1, 0))
            if n < 0 or at + skip + n > hi:
                continue
            value = bytes(data[at + skip:at + skip + n])
            found.setdefault("GPS" + key.decode("latin-1"), value.decode("utf-8", "replace"))
            spans.append((at + skip, at + skip + n, b" " * n))
    if not spans:
        return
    lat, lon = found.get("GPSLatitude"), found.get("GPSLongitude")
    if lat is not None and lon is not None:
        lat_v, lon_v = _coordinate(lat, found.get("GPSLatitudeRef")), _coordinate(lon, found.get("GPSLongitudeRef"))
        if lat_v is not None and lon_v is not None:
            report.coordinates.append(Coordinate(lat_v, lon_v, "C2PA stds.exif"))
    area = found.get("GPSAreaInformation", "").strip()
    if area:
        report.places.append(Place("C2PA exif:GPSAreaInformation", area))
    for a, b, fill in spans:
        report.patches.append(Patch(a, b, fill))


def _coordinate(text: str, ref: str | None) -> float | None:
    value = xmp.parse_value(text)
    if value is not None and ref and ref.strip()[:1].upper() in ("S", "W"):
        value = -abs(value)
    return value


def jpeg_segments(data: bytes, parts: list[tuple[int, int]], report: MediaReport) -> None:
    """APP11 segments: "JP", box instance (2 bytes), packet sequence (4 bytes), then the box; each later packet of
    the same instance repeats the box header (8 bytes, 16 with an extended length) before its part of the body."""
    by_instance: dict[int, list[tuple[int, int, int]]] = {}
    for body, seg_end in parts:
        instance, sequence = struct.unpack_from(">HI", data, body + 2)
        by_instance.setdefault(instance, []).append((sequence, body + 8, seg_end))
    for packets in by_instance.values():
        packets.sort()
        first = packets[0][1]
        header = 16 if struct.unpack_from(">I", data, first)[0] == 1 else 8
        spans = [(packets[0][1], packets[0][2])] + [(lo + header, hi) for _, lo, hi in packets[1:] if lo + header <= hi]
        if len(spans) == 1:
            walk(data, spans[0][0], spans[0][1], report)
            continue
        store = Spliced(data, spans)
        sub = MediaReport()
        walk(store.buf, 0, len(store.buf), sub)
        report.coordinates += sub.coordinates
        report.places += sub.places
        report.errors += [e for e in sub.errors if e not in report.errors]
        report.patches += store.map_patches(sub.patches)


def isobmff_uuid(data: bytes, lo: int, hi: int, report: MediaReport) -> None:
    """The body of ISO BMFF's C2PA `uuid` box: version and flags, a purpose ("manifest"), a 64-bit offset, then
    the JUMBF store (for purpose "manifest")."""
    end_of_purpose = data.find(b"\0", lo + 4, min(hi, lo + 68))
    if end_of_purpose < 0:
        raise ValueError("C2PA uuid box: no purpose string")
    if data[lo + 4:end_of_purpose] == b"manifest":
        walk(data, end_of_purpose + 1 + 8, hi, report)
