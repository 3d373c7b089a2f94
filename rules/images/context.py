"""What the school's config says about its own photos: its cameras (an asset register), its trips, its badge.

    [school]
    cameras = [{ make = "Apple", model = "iPad (9th generation)" }, { serial = "093022004357" }]
    logos = ["badge.png"]          # relative to the config file

    [[trips]]
    name = "Year 6 residential"
    start = 2026-06-08             # TOML dates; end defaults to start
    end = 2026-06-12
    place = { lat = 54.45, lon = -3.03, radius_m = 2000 }   # optional

Parsed once when the engine starts; a bad entry is a ConfigError naming the key.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError, Site


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
    raw = config.extra.get("school", {}).get("cameras", [])
    where = f"{config.path or 'config'}: school.cameras"
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: must be a list of {{ make, model, serial }} tables")
    out = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict) or not c or set(c) - {"make", "model", "serial", "name"} or \
                not all(isinstance(v, str) for v in c.values()):
            raise ConfigError(f"{where}[{i}]: must be a table of strings with make and model, or serial")
        cam = Camera(_norm(c.get("make", "")), _norm(c.get("model", "")), _serial(c.get("serial", "")))
        if not cam.serial and not cam.model:
            raise ConfigError(f"{where}[{i}]: needs a serial, or a model (with its make)")
        out.append(cam)
    return out


def trips(config) -> list[Trip]:
    raw = config.extra.get("trips", [])
    where = f"{config.path or 'config'}: trips"
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: must be [[trips]] tables")
    out = []
    for i, t in enumerate(raw):
        k = f"{where}[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{k}: must be a table")
        start, end = t.get("start"), t.get("end", t.get("start"))
        if not isinstance(start, dt.date) or not isinstance(end, dt.date):
            raise ConfigError(f"{k}: start and end must be dates (start = 2026-06-08)")
        start, end = _day(start), _day(end)
        if end < start:
            raise ConfigError(f"{k}: ends before it starts")
        place = None
        if "place" in t:
            from ..config import _site
            place = _site({"name": t.get("name", "trip"), **t["place"]} if isinstance(t["place"], dict)
                          else t["place"], f"{k}.place", lambda key, why: _fail(key, why))
        out.append(Trip(str(t.get("name") or f"Trip {i + 1}"), start, end, place))
    return out


def logos(config) -> list[Path]:
    raw = config.extra.get("school", {}).get("logos", [])
    where = f"{config.path or 'config'}: school.logos"
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise ConfigError(f"{where}: must be a list of image file paths")
    base = Path(config.path).parent if config.path else Path.cwd()
    paths = [(base / Path(p).expanduser()) for p in raw]
    for i, p in enumerate(paths):
        if not p.is_file():
            raise ConfigError(f"{where}[{i}]: no such image file: {p}")
    return paths


def _fail(key: str, why: str):
    raise ConfigError(f"{key}: {why}")


def _day(d: dt.date) -> dt.date:
    return d.date() if isinstance(d, dt.datetime) else d


def _norm(text: str) -> str:
    return " ".join(text.replace("\0", " ").split()).casefold()


def _serial(text: str) -> str:
    return re.sub(r"[\s\0-]", "", text).upper()


def camera_match(meta: dict, register: list[Camera]) -> tuple[str, Camera] | None:
    """('serial', camera) when the photo's body serial is in the register; ('model', camera) when its make and
    model are and that entry names no serial (iPads and phones write none); None otherwise."""
    serial = _serial(meta.get("serial", ""))
    make, model = _norm(meta.get("make", "")), _norm(meta.get("model", ""))
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
