"""The school's configuration: one TOML file, read once, checked loudly."""
from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

APP = "postguard"


class ConfigError(ValueError):
    """A configuration that cannot be used: the message names the file and the key."""


@dataclass(frozen=True)
class Site:
    name: str
    lat: float
    lon: float
    radius_m: float


@dataclass
class School:
    name: str = ""
    aliases: list[str] = field(default_factory=list)
    email_domains: list[str] = field(default_factory=list)
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    pack: str = "default"


@dataclass
class Config:
    path: Path | None = None
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP)))
    school: School = field(default_factory=School)
    extra: dict = field(default_factory=dict)  # tables later features read (proxy, service, trips, ...)


def default_path() -> Path:
    return Path(os.environ.get("POSTGUARD_CONFIG") or Path(platformdirs.user_config_dir(APP)) / "config.toml")


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read the config file; a missing default file means defaults, a missing named file is an error."""
    explicit = path is not None
    p = Path(path) if explicit else default_path()
    if not p.exists():
        if explicit:
            raise ConfigError(f"{p}: no such config file (create one with 'postguard init --config {p}')")
        return Config()
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: {exc}") from None
    return parse_config(doc, p)


def parse_config(doc: dict, p: Path | None = None) -> Config:
    where = str(p) if p else "config"

    def fail(key: str, why: str):
        raise ConfigError(f"{where}: {key}: {why}")

    def strings(key: str, value) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail(key, f"must be a list of strings, not {value!r}")
        return value

    cfg = Config(path=p)
    if "data_dir" in doc:
        if not isinstance(doc["data_dir"], str) or not doc["data_dir"]:
            fail("data_dir", "must be a path")
        cfg.data_dir = Path(doc["data_dir"]).expanduser()
    s = doc.get("school", {})
    if not isinstance(s, dict):
        fail("school", "must be a table")
    school = School()
    for key, value in s.items():
        k = f"school.{key}"
        if key == "name" or key == "pack":
            if not isinstance(value, str):
                fail(k, f"must be a string, not {value!r}")
            setattr(school, key, value)
        elif key == "aliases":
            school.aliases = strings(k, value)
        elif key == "email_domains":
            school.email_domains = [d.strip().lower().lstrip("@") for d in strings(k, value)]
        elif key == "networks":
            for i, net in enumerate(strings(k, value)):
                try:
                    school.networks.append(ipaddress.ip_network(net, strict=False))
                except ValueError:
                    fail(f"{k}[{i}]", f"not a network in CIDR form: {net!r}")
        elif key == "sites":
            if not isinstance(value, list):
                fail(k, "must be a list of { name, lat, lon, radius_m } tables")
            for i, site in enumerate(value):
                school.sites.append(_site(site, f"{k}[{i}]", fail))
        else:
            cfg.extra.setdefault("school", {})[key] = value  # read by the feature that owns it
    cfg.school = school
    for key, value in doc.items():
        if key not in ("data_dir", "school"):
            cfg.extra[key] = value
    if school.pack:
        from .packs import PackError, resolve
        try:
            resolve(school.pack)
        except PackError as exc:
            fail("school.pack", str(exc))
    return cfg


def _site(site, k: str, fail) -> Site:
    if not isinstance(site, dict):
        fail(k, "must be a table { name, lat, lon, radius_m }")
    for key in ("lat", "lon"):
        if not isinstance(site.get(key), (int, float)) or isinstance(site.get(key), bool):
            fail(f"{k}.{key}", f"must be a number, not {site.get(key)!r}")
    lat, lon = float(site["lat"]), float(site["lon"])
    if not -90 <= lat <= 90:
        fail(f"{k}.lat", f"out of range: {lat}")
    if not -180 <= lon <= 180:
        fail(f"{k}.lon", f"out of range: {lon}")
    radius = site.get("radius_m", 250)
    if not isinstance(radius, (int, float)) or isinstance(radius, bool) or radius <= 0:
        fail(f"{k}.radius_m", f"must be a positive number of metres, not {radius!r}")
    return Site(str(site.get("name") or "School site"), lat, lon, float(radius))


TEMPLATE = '''\
# PostGuard configuration. Lines starting with # are comments.
# Where PostGuard keeps its monitoring log, keys, photo library and roster (readable by its owner only).
data_dir = "{data_dir}"

[school]
# The school's name as staff and the public write it, and other names it goes by.
name = ""
aliases = []
# The school's email domains: a school address used on a personal account is against policy.
email_domains = []          # e.g. ["stmarys-angels.sch.uk"]
# The school network's address ranges (CIDR): edits made from here are traced to the school.
networks = []               # e.g. ["10.20.0.0/16", "203.0.113.0/24"]
# The school's sites: a photo taken within radius_m metres is "on the school site".
sites = []                  # e.g. [{{ name = "Main site", lat = 54.5705, lon = -1.3187, radius_m = 300 }}]
# The policy pack: one of {packs}
pack = "default"
# School cameras and iPads (an asset register): photos they took count as school photos. A body serial is strong;
# make and model alone is weak (iPads and phones write no serial).
cameras = []                # e.g. [{{ serial = "093022004357" }}, {{ make = "Apple", model = "iPad (9th generation)" }}]
# The school badge or logo as image files (PNG with transparency is best), relative to this file.
logos = []                  # e.g. ["badge.png"]

# School trips: photos taken on these dates, or at the place, count as school photos. One [[trips]] table each.
# [[trips]]
# name = "Year 6 residential"
# start = 2026-06-08
# end = 2026-06-12
# place = {{ lat = 54.45, lon = -3.03, radius_m = 2000 }}
'''


def template(data_dir: Path | None = None) -> str:
    from .packs import available
    return TEMPLATE.format(data_dir=data_dir or Path(platformdirs.user_data_dir(APP)), packs=", ".join(available()))


def write_private(path: Path, text: str) -> None:
    """Create a file readable by its owner only (0600), in a directory only its owner can enter."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    if sys.platform != "win32":
        os.chmod(path, 0o600)
