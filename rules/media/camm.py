"""Google's Camera Motion Metadata (`camm` timed-metadata track: 360 cameras, YouTube's spherical format), after
ExifTool's QuickTimeStream.pl ProcessCAMM.

Each sample holds records: u16 reserved, u16 type, then a body whose size the type fixes (little-endian). Type 5 is
a position (latitude, longitude, altitude as doubles); type 6 a GPS fix (time, fix mode, then latitude and longitude
as doubles at 0x10 and 0x18). Removal zeroes the body of every position record in every sample, keeping the
record's type, so readers still step over it.
"""
from __future__ import annotations

import struct

from . import gpmf
from .report import Budget, Coordinate, MediaReport, blank

SIZES = {0: 8, 1: 12, 2: 16, 3: 16, 4: 16, 5: 28, 6: 60, 7: 16}  # with the 4-byte header; type 0: angle axis
POSITION = {5: (4, 12), 6: (0x10, 0x18)}  # type -> offsets of latitude and longitude
MAX_RECORDS = 4_000_000  # in one file


def track(data: bytes, trak, report: MediaReport) -> None:
    samples = gpmf.timed_samples(data, trak, report, b"camm")
    if samples is None:
        return
    budget, seen = Budget("camm: records read", MAX_RECORDS), False
    for lo, hi in samples:
        pos, hi = lo, min(hi, len(data))
        while pos + 4 <= hi:
            budget.take()
            kind = struct.unpack_from("<H", data, pos + 2)[0]
            size = SIZES.get(kind)
            if size is None:
                raise ValueError(f"camm: a record of unknown type {kind} at byte {pos}")
            if pos + size > hi:
                break
            if kind in POSITION:
                lat_at, lon_at = POSITION[kind]
                lat, lon = struct.unpack_from("<d", data, pos + lat_at)[0], struct.unpack_from("<d", data, pos + lon_at)[0]
                if not seen and (lat or lon):
                    report.coordinates.append(Coordinate(lat, lon, "camm GPS"))
                    seen = True
                report.patches.append(blank(pos + 4, pos + size))
            pos += size
