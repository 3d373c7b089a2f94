"""Drone telemetry written as a subtitle (text) track in the video: DJI's, as ExifTool's QuickTimeStream.pl reads it.

Older DJI drones write each frame's "F/3.5, SS 1000, ISO 100, EV 0, GPS (8.6499, 53.1665, 18), D 24.26m, ..."
(longitude first); newer ones "[latitude: 53.1665] [longitude: 8.6499]" (some firmware spells it "longtitude").
Samples of `tx3g` and `text` tracks are searched for these; removal turns every digit of each position to 0, in
place, so the subtitle keeps its length and its other readings.
"""
from __future__ import annotations

import re

from . import gpmf
from .report import Budget, Coordinate, MediaReport, Patch

GPS_PAREN = re.compile(rb"GPS \(([-+]?+\d{0,4}+\.\d{1,12}+),\s{0,4}+([-+]?+\d{0,4}+\.\d{1,12}+)")  # longitude first
BRACKETS = re.compile(rb"\[latitude\s{0,4}+:\s{0,4}+([-+]?+\d{1,4}+\.\d{1,12}+)\]\s{0,4}+"
                      rb"\[long?t?itude\s{0,4}+:\s{0,4}+([-+]?+\d{1,4}+\.\d{1,12}+)\]")
MAX_TEXT = 64 << 20  # bytes of subtitle samples read in one file


def track(data: bytes, trak, report: MediaReport) -> None:
    samples = None
    for entry in (b"tx3g", b"text"):
        samples = gpmf.timed_samples(data, trak, report, entry)
        if samples is not None:
            break
    if not samples:
        return
    budget, seen = Budget("subtitle samples: bytes read", MAX_TEXT), False
    for lo, hi in samples:
        hi = min(hi, len(data))
        if hi <= lo:
            continue
        budget.take(hi - lo)
        for pattern, lat_group in ((GPS_PAREN, 2), (BRACKETS, 1)):
            for m in pattern.finditer(data, lo, hi):
                lat, lon = float(m.group(lat_group)), float(m.group(3 - lat_group))
                if not seen and (lat or lon):
                    report.coordinates.append(Coordinate(lat, lon, "DJI telemetry subtitle"))
                    seen = True
                for g in (1, 2):
                    a, b = m.span(g)
                    report.patches.append(Patch(a, b, re.sub(rb"\d", b"0", data[a:b])))
