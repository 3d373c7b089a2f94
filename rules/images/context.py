"""What the school's config says about its own photos: its cameras (an asset register), its trips, its badge.

    [school]
    cameras = [{ make = "Apple", model = "iPad (9th generation)" }, { serial = "093022004357" }]
    logos = ["badge.png"]          # relative to the config file

    [[trips]]
    name = "Year 6 residential"
    start = 2026-06-08             # TOML dates; end defaults to start
    end = 2026-06-12
    place = { lat = 54.45, lon = -3.03, radius_m = 2000 }   # optional

Declared and checked when the config is read (rules/schema.py: Camera, Trip, Site; rules/config.py: School): a bad
entry is a ConfigError naming the key before anything runs. These functions hand the detector plain values.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from ..schema import Site, fold, serial_key


@dataclass(frozen=True)
class Camera:
    make: str = ""
    model: str = ""
    serial: str = ""


@dataclass(frozen=True)
class Trip:
    name: str
    start: dt.date
    end: dt.date
    place: Site | None = None


def cameras(config) -> list[Camera]:
    """The asset register (`[school] cameras`), make and model folded and serials normalised as camera_match
    compares them."""
    return [Camera(c.make, c.model, c.serial) for c in config.school.cameras]


def trips(config) -> list[Trip]:
    """The `[[trips]]` tables; a trip without a name is "Trip 1", "Trip 2", ... in findings."""
    return [Trip(t.name or f"Trip {i + 1}", t.start, t.end or t.start, t.place) for i, t in enumerate(config.trips)]


def logos(config) -> list[Path]:
    """The badge files (`[school] logos`), found relative to the config file when it was read."""
    return list(config.school.logos)


def camera_match(meta: dict, register: list[Camera]) -> tuple[str, Camera] | None:
    """('serial', camera) when the photo's body serial is in the register; ('model', camera) when its make and
    model are and that entry names no serial (iPads and phones write none); None otherwise."""
    serial = serial_key(meta.get("serial", ""))
    make, model = fold(meta.get("make", "")), fold(meta.get("model", ""))
    if serial and serial.strip("0"):
        for cam in register:
            if cam.serial and cam.serial == serial:
                return "serial", cam
    for cam in register:
        if not cam.serial and model and cam.model == model and (not cam.make or not make or cam.make == make
                                                                 or model.startswith(cam.make)):
            return "model", cam
    return None


_TAKEN = re.compile(r"^\s*(\d{4})[:-](\d{2})[:-](\d{2})")


def taken_on(meta: dict) -> dt.date | None:
    """The day the camera's clock gave (EXIF "2026:06:09 10:12:00" or ISO 8601), or None."""
    m = _TAKEN.match(meta.get("taken", ""))
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:  # "0000:00:00": a camera whose clock was never set
        return None
