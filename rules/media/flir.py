"""FLIR thermal cameras (and the FLIR One on phones): the GPS record of the FFF data in their JPEG APP1 "FLIR"
segments, after ExifTool's FLIR.pm and the APP1 reassembly in ExifTool.pm.

Each segment: "FLIR\\0", 1, its chunk number, the last chunk number; then its part of the FFF data. FFF: "FFF\\0", the
creator, a version (100-199, which tells the byte order), the record directory's offset (0x18) and its number of
entries (0x1c); each 32-byte entry: record type (u16), offset (0x0c) and length (0x10) from the FFF's start. Record
0x2b, GPSInfo (little-endian): GPSValid (u32), LatitudeRef (0x08), LongitudeRef (0x0a), latitude and longitude as
doubles (0x10, 0x18). Removal zeroes the record.
"""
from __future__ import annotations

import struct

from .report import Coordinate, MediaReport, Spliced, blank

GPS_RECORD = 0x2B
MAX_RECORDS = 1024


def jpeg_segments(data: bytes, parts: list[tuple[int, int]], report: MediaReport) -> None:
    """The APP1 FLIR segments (body, end), as found in the file."""
    chunks = sorted((data[body + 6], body + 8, end) for body, end in parts if body + 8 <= end)
    spans = [(lo, hi) for _, lo, hi in chunks]
    fff = Spliced(data, spans)
    sub = MediaReport()
    parse(fff.buf, 0, len(fff.buf), sub)
    report.coordinates += sub.coordinates
    report.patches += fff.map_patches(sub.patches)


def parse(data: bytes, lo: int, hi: int, report: MediaReport) -> None:
    if hi - lo < 0x40 or data[lo:lo + 4] not in (b"FFF\0", b"AFF\0"):
        return
    for order in (">", "<"):
        if 100 <= struct.unpack_from(order + "I", data, lo + 0x14)[0] < 200:
            break
    else:
        raise ValueError("FLIR: an FFF version PostGuard does not know")
    directory, count = struct.unpack_from(order + "II", data, lo + 0x18)
    if count > MAX_RECORDS or lo + directory + 0x20 * count > hi:
        raise ValueError(f"FLIR: a record directory of {count} entries does not fit the FFF data")
    for i in range(count):
        entry = lo + directory + 0x20 * i
        kind = struct.unpack_from(order + "H", data, entry)[0]
        offset, length = struct.unpack_from(order + "II", data, entry + 0x0C)
        if kind != GPS_RECORD:
            continue
        at = lo + offset
        if length < 0x20 or at + length > hi:
            raise ValueError("FLIR: the GPS record lies outside the FFF data")
        valid, = struct.unpack_from("<I", data, at)
        lat, lon = struct.unpack_from("<dd", data, at + 0x10)
        if valid == 1:
            lat = -abs(lat) if data[at + 0x08:at + 0x09] == b"S" else lat
            lon = -abs(lon) if data[at + 0x0A:at + 0x0B] == b"W" else lon
            report.coordinates.append(Coordinate(lat, lon, "FLIR GPSInfo"))
        report.patches.append(blank(at, at + length))
