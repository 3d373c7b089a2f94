"""The pieces every config table is built from: the error, the base table, strict value types, the entries of the
[school] and [[trips]] tables, and one converter from pydantic's ValidationError to `<file>: <dotted.key>: <why>`.

A leaf module (it imports no other project module), so that the detectors, rules.images.context and rules.config can
all import it without importing each other.
"""
from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import os
import re
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError,
                      field_validator, model_validator)
from pydantic.dataclasses import dataclass


class ConfigError(ValueError):
    """A configuration that cannot be used: the message names the file and the key."""


class Label:
    """What a value is, in words, for the docs, the template and the error messages: Annotated[str, Label("...")]."""

    def __init__(self, text: str):
        self.text = text


class Table(BaseModel):
    """A config table: every key declared, unknown keys refused."""

    model_config = ConfigDict(extra="forbid")
    noun: ClassVar[str] = "key"  # what an unknown name in this table is called in the error message


class Options(Table):
    """A detector's own config table (Detector.Options): a table of options."""

    noun: ClassVar[str] = "option"


# -- strict values: TOML already gives typed values, so "80" is not a number and true is not 1 ---------------------

def _day(value):
    return value.date() if isinstance(value, dt.datetime) else value  # a TOML date-time counts as its day


def _path(value):
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a path, not {value!r}")
    return Path(value).expanduser()


def _network(value: str):
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not a network in CIDR form: {value!r}") from None


def _nonblank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


Str = Annotated[str, Strict()]
NonBlank = Annotated[str, Strict(), AfterValidator(_nonblank), Label("non-empty string")]
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Date = Annotated[dt.date, Strict(), BeforeValidator(_day), Label("date")]
PathValue = Annotated[Path, BeforeValidator(_path), Label("path")]
Network = Annotated[str, Strict(), AfterValidator(_network), Label("CIDR network")]


# -- entries of the [school] and [[trips]] tables ----------------------------------------------------------------------

def fold(text: str) -> str:
    """A camera make or model as compared: spaces collapsed, NULs dropped, case folded."""
    return " ".join(text.replace("\0", " ").split()).casefold()


def serial_key(text: str) -> str:
    """A camera body serial as compared: no spaces, NULs or dashes, upper case."""
    return re.sub(r"[\s\0-]", "", text).upper()


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Site:
    """A school site: a photo taken within radius_m metres of (lat, lon) is "on the school site". A plain frozen
    dataclass once validated (read per photo), made positionally too: Site("Main", 54.57, -1.32, 300)."""

    noun: ClassVar[str] = "key"
    name: Str = Field(description="What the site is called in findings.",
                      json_schema_extra={"examples": ["Main site"], "shown_default": "School site"})
    lat: Number = Field(ge=-90, le=90, description="Latitude in degrees (WGS 84), -90 to 90.",
                        json_schema_extra={"examples": [54.5705]})
    lon: Number = Field(ge=-180, le=180, description="Longitude in degrees (WGS 84), -180 to 180.",
                        json_schema_extra={"examples": [-1.3187]})
    radius_m: Number = Field(250.0, gt=0, description="How far from (lat, lon) still counts, in metres.",
                             json_schema_extra={"examples": [300]})

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        if isinstance(data, dict) and not (isinstance(data.get("name"), str) and data["name"].strip()):
            data = {**data, "name": data.get("name") or "School site"}
        return data


class Camera(Table):
    """A school camera or iPad in the asset register. A body serial is strong evidence; make and model alone is weak
    (iPads and phones write no serial)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    serial: Str = Field("", description="The body serial number the camera writes into its photos.",
                        json_schema_extra={"examples": ["093022004357"]})
    make: Str = Field("", description="The maker, as the photos' metadata gives it.",
                      json_schema_extra={"examples": ["Apple"]})
    model: Str = Field("", description="The model, as the photos' metadata gives it.",
                       json_schema_extra={"examples": ["iPad (9th generation)"]})
    name: Str = Field("", description="A note for people reading the config (not matched).",
                      json_schema_extra={"examples": ["Year 6 iPad trolley"]})

    @field_validator("serial")
    @classmethod
    def _serial(cls, serial: str) -> str:
        return serial_key(serial)

    @field_validator("make", "model")
    @classmethod
    def _folded(cls, text: str) -> str:
        return fold(text)

    @model_validator(mode="after")
    def _identifies(self) -> "Camera":
        if not self.serial and not self.model:
            raise ValueError("needs a serial, or a model (with its make)")
        return self


class Trip(Table):
    """A school trip: photos taken on its dates, or at its place, count as school photos."""

    name: Str = Field("", description="What the trip is called in findings (default: Trip 1, Trip 2, ...).",
                      json_schema_extra={"examples": ["Year 6 residential"]})
    start: Date = Field(description="The first day (a TOML date).",
                        json_schema_extra={"examples": [dt.date(2026, 6, 8)]})
    end: Date | None = Field(None, description="The last day (default: the first).",
                             json_schema_extra={"examples": [dt.date(2026, 6, 12)]})
    place: Site | None = Field(None, description="Where it went (optional): a site table { lat, lon, radius_m }, "
                                                 "named after the trip.",
                               json_schema_extra={"examples": [{"lat": 54.45, "lon": -3.03, "radius_m": 2000}]})

    @model_validator(mode="before")
    @classmethod
    def _place_named_after_trip(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("place"), dict) and "name" not in data["place"]:
            name = data.get("name")
            data = {**data, "place": {"name": name if isinstance(name, str) and name else "trip", **data["place"]}}
        return data

    @model_validator(mode="after")
    def _in_order(self) -> "Trip":
        if self.end is None:
            self.end = self.start
        if self.end < self.start:
            raise ValueError(f"ends ({self.end}) before it starts ({self.start})")
        return self


# -- ValidationError -> "<file>: <dotted.key>: <why>" -----------------------------------------------------------------

UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}


def explain(exc: ValidationError, where: str, root: type[BaseModel]) -> ConfigError:
    """One ConfigError for a ValidationError of `root`: a line `<where>: <dotted.key>: <why>` per problem."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        lines.append(f"{where}: {dotted(loc) or '(the file)'}: {_why(err, loc, root)}")
    return ConfigError("\n".join(dict.fromkeys(lines)))


def dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _why(err: dict, loc: tuple, root) -> str:
    kind, value = err["type"], err.get("input")
    if kind in UNKNOWN:
        parent = model_at(root, loc[:-1])
        names = list(fields_of(parent)) if parent is not None else []
        name = str(loc[-1])
        noun = "table" if len(loc) == 1 and _is_table(value) else getattr(parent, "noun", "key")
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if close:
            return f"unknown {noun} (did you mean {close[0]!r}?)"
        return f"unknown {noun} (known: {', '.join(names) or 'none'})"
    if kind == "missing":
        return "missing (it has no default)"
    if kind.endswith("_type") or kind in ("int_from_float", "model_attributes_type"):
        label = label_at(root, loc) or kind.removesuffix("_type")
        return f"expected {article(label)}, not {value!r}"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    if msg.startswith("Input should be "):
        return f"must be {msg[len('Input should be '):]}, not {value!r}"
    return f"{msg}: {value!r}"


def _is_table(value) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and bool(value)
                                       and all(isinstance(v, dict) for v in value))


# -- walking the schema: for suggestions, type names, the template and the docs ---------------------------------------

def fields_of(model) -> dict:
    return getattr(model, "__pydantic_fields__", None) or {}


def strip(tp):
    """The type without Annotated and without `| None`."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp
            tp = rest[0]
        else:
            return tp


def is_model(tp) -> bool:
    """A table: a pydantic model or a pydantic dataclass (Site)."""
    return isinstance(tp, type) and (issubclass(tp, BaseModel) or "__pydantic_fields__" in vars(tp))


def element(tp):
    """list[X] -> X, else None."""
    tp = strip(tp)
    return typing.get_args(tp)[0] if typing.get_origin(tp) is list else None


def model_at(root, loc: tuple):
    """The model class the key at `loc` belongs to (ints in loc are list items), or None."""
    tp = root
    for part in loc:
        if isinstance(part, int):
            tp = element(tp)
        else:
            field = fields_of(strip(tp)).get(part)
            tp = field.annotation if field else None
        if tp is None:
            return None
    tp = strip(tp)
    return tp if is_model(tp) else None


def label_at(root, loc: tuple) -> str | None:
    """What the value at `loc` should be, in words ("list of strings", "whole number", ...)."""
    if not loc:
        return "table"
    trailing = 0
    while trailing < len(loc) and isinstance(loc[len(loc) - 1 - trailing], int):
        trailing += 1
    key_loc = loc[:len(loc) - trailing]
    parent = model_at(root, key_loc[:-1])
    field = fields_of(parent).get(key_loc[-1]) if parent is not None and key_loc else None
    if field is None:
        return None
    labels = [m.text for m in field.metadata if isinstance(m, Label)]
    if labels and not trailing:
        return labels[-1]
    tp = field.annotation
    for _ in range(trailing):
        tp = element(tp)
        if tp is None:
            return None
    return label(tp)


NAMES = {str: "string", int: "whole number", float: "number", bool: "true or false", Path: "path",
         dt.date: "date"}


def label(tp) -> str:
    if typing.get_origin(tp) is Annotated:
        labels = [m.text for m in typing.get_args(tp)[1:] if isinstance(m, Label)]
        if labels:
            return labels[-1]  # the outermost: Annotated[NonBlank, Label("image file")] is an image file
    inner = element(tp)
    if inner is not None:
        return f"list of {plural(label(inner))}"
    tp = strip(tp)
    if typing.get_origin(tp) is Annotated:
        return label(tp)
    if is_model(tp):
        return "table"
    return NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def field_label(field) -> str:
    labels = [m.text for m in field.metadata if isinstance(m, Label)]
    return labels[-1] if labels else label(field.annotation)


def plural(text: str) -> str:
    return text if text.endswith("s") or " or " in text else text + "s"


def article(text: str) -> str:
    if text.startswith("true "):
        return text
    return ("an " if text[:1] in "aeiou" else "a ") + text


# -- files ------------------------------------------------------------------------------------------------------------

def write_private(path: Path, text: str) -> None:
    """Create a file readable by its owner only (0600), in a directory only its owner can enter."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    if sys.platform != "win32":
        os.chmod(path, 0o600)
