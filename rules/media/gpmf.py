"""GoPro GPMF telemetry: GPS5/GPS9 samples in a timed-metadata track (sample entry `gpmd`).

Only the first samples are read to find a position; removal zeroes the GPS payload of every sample and renames its
key, so nothing moves and GPMF readers skip it.
"""
from __future__ import annotations

import struct

from .boxes import boxes
from .report import Coordinate, MediaReport, Patch, blank

FIRST_SAMPLES = 8


def sample_entry(data: bytes, trak, report: MediaReport) -> bytes:
    """The type of a track's first sample entry (`gpmd`, `rtmd`, `camm`, `tx3g`, `avc1`, ...), or b""."""
    return _sample_boxes(data, trak, report)[0]


def timed_samples(data: bytes, trak, report: MediaReport, entry: bytes) -> list[tuple[int, int]] | None:
    """The (start, end) of each sample of a timed-metadata track whose sample entry is `entry`, else None."""
    kind, found = _sample_boxes(data, trak, report)
    if kind != entry:
        return None
    return list(_samples(data, found))


def _sample_boxes(data: bytes, trak, report: MediaReport) -> tuple[bytes, dict]:
    found = {}

    def walk(lo, hi, depth=0):
        for b in boxes(data, lo, hi, report):
            if b.type in (b"mdia", b"minf", b"stbl") and depth < 4:
                walk(b.body, b.end, depth + 1)
            elif b.type in (b"stsd", b"stsz", b"stco", b"co64", b"stsc"):
                found[b.type] = b

    walk(trak.body, trak.end)
    stsd = found.get(b"stsd")
    return (bytes(data[stsd.body + 12:stsd.body + 16]) if stsd else b""), found


def track(data: bytes, trak, report: MediaReport) -> None:
    samples = timed_samples(data, trak, report, b"gpmd")
    if samples is None:
        return
    seen_position = False
    for i, (lo, hi) in enumerate(samples):
        hi = min(hi, len(data))
        if lo >= hi:
            continue
        for payload, size, repeat, lat_field, lon_field in _gps_entries(data, lo, hi):
            if not seen_position and i < FIRST_SAMPLES:
                for r in range(repeat):
                    at = payload + r * size
                    lat = _value(data, at, lat_field)
                    lon = _value(data, at, lon_field)
                    if lat or lon:
                        report.coordinates.append(Coordinate(lat, lon, "GoPro GPMF telemetry"))
                        seen_position = True
                        break
            report.patches.append(Patch(payload - 8, payload - 4, b"FREE"))
            report.patches.append(blank(payload, payload + size * repeat))


def stream(data: bytes, lo: int, hi: int, report: MediaReport, source: str = "GoPro GPMF") -> None:
    """One GPMF stream outside a track: GoPro's APP6 segment in its photos, the `GPMF` box in its videos' udta.
    A stream with no position key and no unit in degrees has no position: it is not walked (a HERO's udta GPMF of
    camera settings took 3.5 ms)."""
    window = data[lo:hi]
    if not any(key in window for key in (*POSITION_KEYS, b"deg")):
        return
    found = False
    for payload, size, repeat, lat_field, lon_field in _gps_entries(data, lo, hi):
        for r in range(repeat if not found else 0):
            at = payload + r * size
            lat, lon = _value(data, at, lat_field), _value(data, at, lon_field)
            if lat or lon:
                report.coordinates.append(Coordinate(lat, lon, source))
                found = True
                break
        report.patches.append(Patch(payload - 8, payload - 4, b"FREE"))
        report.patches.append(blank(payload, payload + size * repeat))


def _value(data: bytes, at: int, field) -> float:
    offset, fmt, scale = field
    return struct.unpack_from(">" + fmt, data, at + offset)[0] / scale


def _samples(data: bytes, boxes_: dict):
    stsz, stsc = boxes_.get(b"stsz"), boxes_.get(b"stsc")
    stco = boxes_.get(b"stco") or boxes_.get(b"co64")
    if not (stsz and stsc and stco):
        return
    fixed, count = struct.unpack_from(">II", data, stsz.body + 4)
    count = min(count, 1_000_000)
    sizes = [fixed] * count if fixed else list(struct.unpack_from(f">{count}I", data, stsz.body + 12))
    wide = stco.type == b"co64"
    n_chunks = struct.unpack_from(">I", data, stco.body + 4)[0]
    offsets = struct.unpack_from(f">{n_chunks}{'Q' if wide else 'I'}", data, stco.body + 8)
    n_runs = struct.unpack_from(">I", data, stsc.body + 4)[0]
    runs = [struct.unpack_from(">III", data, stsc.body + 8 + 12 * i) for i in range(n_runs)]
    sample = 0
    for r, (first, per_chunk, _) in enumerate(runs):
        last = runs[r + 1][0] - 1 if r + 1 < len(runs) else n_chunks
        for chunk in range(first - 1, min(last, n_chunks)):
            pos = offsets[chunk]
            for _ in range(per_chunk):
                if sample >= count:
                    return
                yield pos, pos + sizes[sample]
                pos += sizes[sample]
                sample += 1


SIZES = {"b": ("b", 1), "B": ("B", 1), "c": ("c", 1), "d": ("d", 8), "f": ("f", 4), "F": ("4s", 4),
         "G": ("16s", 16), "j": ("q", 8), "J": ("Q", 8), "l": ("i", 4), "L": ("I", 4), "q": ("i", 4),
         "Q": ("q", 8), "s": ("h", 2), "S": ("H", 2), "U": ("16s", 16)}
POSITION_KEYS = {b"GPS5": 0, b"GPS9": 0, b"GPRI": 1, b"GLPI": 1}  # index of the latitude field; longitude next


def _two_degrees(units: list[str] | None) -> bool:
    """A structure with two adjacent fields in degrees is a position, whatever GoPro named it."""
    return bool(units) and any(a.startswith("deg") and b.startswith("deg") for a, b in zip(units, units[1:]))


def _gps_entries(data: bytes, lo: int, hi: int, depth: int = 0):
    """Yield (payload_pos, struct_size, repeat, lat_field, lon_field) for position entries in a GPMF stream.

    A field is (offset in the struct, struct format, scale). SCAL, TYPE and UNIT come before the data they describe.
    """
    pos, scale, types, units = lo, [1], None, None
    while pos + 8 <= hi:
        key, typ, size, repeat = struct.unpack_from(">4sBBH", data, pos)
        payload = pos + 8
        length = size * repeat
        end = payload + ((length + 3) & ~3)
        if end > hi:
            return
        if typ == 0 and depth < 4:
            yield from _gps_entries(data, payload, payload + length, depth + 1)
        elif key == b"SCAL" and chr(typ) in "lLsS":
            fmt, width = SIZES[chr(typ)]
            if width == size:
                scale = [v or 1 for v in struct.unpack_from(f">{repeat}{fmt}", data, payload)]
        elif key == b"TYPE" and typ == ord("c"):
            types = data[payload:payload + length].split(b"\0")[0].decode("latin-1")
        elif key == b"UNIT" and typ == ord("c") and size:
            units = [data[payload + i * size:payload + (i + 1) * size].strip(b"\0").decode("latin-1")
                     for i in range(repeat)]
        elif (key in POSITION_KEYS or typ == ord("?") and _two_degrees(units)) and size >= 8:
            fields = types if typ == ord("?") else chr(typ) * (size // 4)
            if fields and all(f in SIZES for f in fields):
                first = POSITION_KEYS.get(key, 0)
                if units and typ == ord("?"):
                    pairs = [i for i, (a, b) in enumerate(zip(units, units[1:]))
                             if a.startswith("deg") and b.startswith("deg")]
                    first = pairs[0] if pairs else first
                layout, offset = [], 0
                for f in fields:
                    layout.append((offset, SIZES[f][0]))
                    offset += SIZES[f][1]
                if first + 1 < len(layout) and offset == size:
                    def field(i):
                        return layout[i][0], layout[i][1], scale[i] if len(scale) > i else scale[-1]
                    yield payload, size, repeat, field(first), field(first + 1)
        pos = end
