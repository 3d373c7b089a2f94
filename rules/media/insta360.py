"""Insta360's trailer (INSP photos, INSV and exported MP4 videos), after ExifTool's QuickTimeStream.pl.

The file ends with 78 bytes: the last record's id (u16) and length (u32), the trailer's length (u32 at 38) and a
32-character magic string. Records run backwards from there: each record's data, then its 6-byte header. Record 0x700
is the GPS log: 53-byte fixes (time, fix 'A' or 'V', latitude, 'N'/'S', longitude, 'E'/'W', speed, track, altitude;
doubles, little-endian). Removal zeroes the GPS records in place.
"""
from __future__ import annotations

import struct

from .report import Coordinate, MediaReport, blank

MAGIC = b"8db42d694ccc418790edff439fe026bf"
GPS, FIX = 0x700, 53
MAX_RECORDS = 4096


def found(data: bytes, lo: int, hi: int) -> int | None:
    """Where the trailer starts, if data[lo:hi] ends with one."""
    if hi - lo < 78 or data[hi - 32:hi] != MAGIC:
        return None
    length = struct.unpack_from("<I", data, hi - 78 + 38)[0]
    if length < 78 or length > hi - lo:
        raise ValueError(f"Insta360 trailer: its length ({length}) does not fit the file")
    return hi - length


def parse(data: bytes, lo: int, hi: int, report: MediaReport) -> None:
    start = found(data, lo, hi)
    if start is None:
        return
    header, seen = hi - 78, False
    for _ in range(MAX_RECORDS):
        kind, length = struct.unpack_from("<HI", data, header)
        body = header - length
        if body < start:
            if length:
                raise ValueError(f"Insta360 trailer: record {kind:#x} runs past the trailer's start")
            return
        if kind == GPS:
            for at in range(body, header - FIX + 1, FIX):
                if seen:
                    break
                fix, lat, ns, lon, ew = struct.unpack_from("<cdcdc", data, at + 10)
                if fix == b"A" and ns in (b"N", b"S") and ew in (b"E", b"W", b"O"):
                    lat, lon = (-abs(lat) if ns == b"S" else lat), (abs(lon) if ew == b"E" else -abs(lon))
                    report.coordinates.append(Coordinate(lat, lon, "Insta360 trailer GPS"))
                    seen = True
            report.patches.append(blank(body, header))
        if body - 6 < start:
            return
        header = body - 6
    raise ValueError(f"Insta360 trailer: more than {MAX_RECORDS} records")
