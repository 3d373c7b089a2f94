"""Sony's `rtmd` timed metadata (XAVC videos of Alpha and FX cameras), after ExifTool's Sony.pm Process_rtmd.

Each sample: a header whose length is its first u16, then tags (u16 tag, u16 length, value; big-endian), 0x8300
a container to descend into, 0x060e a 16-byte key. Tags 0x8500-0x851f are the EXIF GPS tags (0x8501 LatitudeRef,
0x8502 Latitude as three rationals, 0x8503 LongitudeRef, 0x8504 Longitude): a camera linked to a phone for location
writes them in every frame. Removal zeroes every GPS tag's value in every sample, in place.
"""
from __future__ import annotations

import struct

from . import gpmf, tiff
from .report import Budget, Coordinate, MediaReport, blank

GPS_TAGS = range(0x8500, 0x8520)
LAT_REF, LAT, LON_REF, LON = 0x8501, 0x8502, 0x8503, 0x8504
MAX_TAGS = 4096  # in one sample
MAX_FILE_TAGS = 4_000_000  # read in one file: a 10-minute 4K clip has about 18,000 samples of 50-100 tags


def track(data: bytes, trak, report: MediaReport) -> None:
    samples = gpmf.timed_samples(data, trak, report, b"rtmd")
    if samples is None:
        return
    seen, budget = False, Budget("Sony rtmd: tags read", MAX_FILE_TAGS)
    for lo, hi in samples:
        hi = min(hi, len(data))
        if hi - lo < 2 or data.find(b"\x85", lo, hi) < 0:  # no GPS tag can be in a sample without its first byte
            continue
        values = _gps(data, lo, hi, report, budget)
        if not seen and LAT in values and LON in values:
            lat, lon = _degrees(data, values[LAT]), _degrees(data, values[LON])
            if lat is not None and lon is not None:
                if data[values.get(LAT_REF, (lo, lo))[0]:][:1] == b"S":
                    lat = -lat
                if data[values.get(LON_REF, (lo, lo))[0]:][:1] == b"W":
                    lon = -lon
                report.coordinates.append(Coordinate(lat, lon, "Sony rtmd GPS"))
                seen = True


def _gps(data: bytes, lo: int, hi: int, report: MediaReport, budget: Budget) -> dict[int, tuple[int, int]]:
    """The GPS tags' value spans in one sample; each is blanked."""
    pos, values = lo + struct.unpack_from(">H", data, lo)[0], {}
    for _ in range(MAX_TAGS):
        if pos + 4 > hi:
            break
        budget.take()
        tag, length = struct.unpack_from(">HH", data, pos)
        if tag == 0:
            break
        if tag == 0x060E:
            pos += 16
            continue
        pos += 4
        if tag == 0x8300:
            continue
        if pos + length > hi:
            break
        if tag in GPS_TAGS and length:
            values[tag] = (pos, pos + length)
            report.patches.append(blank(pos, pos + length))
        pos += length
    return values


def _degrees(data: bytes, span: tuple[int, int]) -> float | None:
    lo, hi = span
    if hi - lo != 24:
        return None
    nums = struct.unpack_from(">6I", data, lo)
    return tiff._dms([n / d if d else None for n, d in zip(nums[::2], nums[1::2])])
