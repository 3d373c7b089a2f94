"""The school's configuration: one TOML file, read once at start, checked loudly against one schema.

Every table and key is declared once, with its type, default and help: data_dir, [school], [[trips]] and [service]
here; a detector's own table by the detector (Detector.table and Detector.Options), gathered from the registry
(rules.detectors.DETECTORS), so a new detector's table is known without touching this file. An unknown key, a wrong
type or a bad value is a ConfigError `<file>: <dotted.key>: <why>` (the commands exit 2). `postguard init` writes
template() and docs/configuration.md is markdown() (`python -m rules.config_docs > docs/configuration.md`).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import textwrap
import tomllib
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import (AfterValidator, Field, PrivateAttr, Strict, ValidationError, ValidationInfo, create_model,
                      field_validator)

from .alert_config import Alerts
from .sso_config import Sso
from .detectors import DETECTORS
from .packs import PackError, available, resolve
from .schema import (Camera, ConfigError, Int, Label, Network, NonBlank, Number, PathValue, Site, Str,  # noqa: F401
                     Table, Trip, element, explain, field_label, fields_of, is_model, strip, write_private)  # (re-exported)
from .situations import account_url

APP = "postguard"

__all__ = ["Camera", "Config", "ConfigError", "Deploy", "Proxy", "School", "Service", "Site", "Trip", "default_path", "load_config",
           "markdown", "parse_config", "template", "write_private"]


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP))


def _email_domain(value: str) -> str:
    return value.strip().lower().lstrip("@")


def _logo(value: str, info: ValidationInfo) -> Path:
    """A logo file, relative to the config file (or the working folder for a config given as a dict)."""
    base = (info.context or {}).get("base") or Path.cwd()
    path = Path(base) / Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"no such image file: {path}")
    return path


def _account(value: str) -> str:
    account_url(value)  # ValueError naming the value when it names no host
    return value.strip()


EmailDomain = Annotated[str, AfterValidator(_email_domain)]
AccountUrl = Annotated[NonBlank, AfterValidator(_account), Label("account or page address")]
Logo = Annotated[NonBlank, AfterValidator(_logo), Label("image file")]


class School(Table):
    """The school: its names, email domains, networks and sites, its policy pack, its cameras and badge."""

    name: Str = Field("", description="The school's name as staff and the public write it.",
                      json_schema_extra={"examples": ["St Mary of the Angels"]})
    aliases: list[Str] = Field(default_factory=list, description="Other names the school goes by.",
                               json_schema_extra={"examples": [["St Mary's", "SMOTA"]]})
    email_domains: list[EmailDomain] = Field(
        default_factory=list, description="The school's email domains: a school address used on a personal account "
                                          "is against policy.",
        json_schema_extra={"examples": [["stmarys-angels.sch.uk"]]})
    networks: list[Network] = Field(
        default_factory=list, description="The school network's address ranges (CIDR): edits made from here are "
                                          "traced to the school.",
        json_schema_extra={"examples": [["10.20.0.0/16", "203.0.113.0/24"]]})
    sites: list[Site] = Field(
        default_factory=list, description="The school's sites: a photo taken within radius_m metres is \"on the "
                                          "school site\".",
        json_schema_extra={"examples": [[{"name": "Main site", "lat": 54.5705, "lon": -1.3187, "radius_m": 300}]]})
    pack: Str = Field("default", description="The policy pack: a pack's name, or the path of a pack file.",
                      json_schema_extra={"one_of": available()})
    cameras: list[Camera] = Field(
        default_factory=list, description="School cameras and iPads (an asset register): photos they took count as "
                                          "school photos. A body serial is strong; make and model alone is weak "
                                          "(iPads and phones write no serial).",
        json_schema_extra={"examples": [[{"serial": "093022004357"},
                                         {"make": "Apple", "model": "iPad (9th generation)"}]]})
    logos: list[Logo] = Field(
        default_factory=list, description="The school badge or logo as image files (PNG with transparency is best), "
                                          "relative to this file.",
        json_schema_extra={"examples": [["badge.png"]]})
    official_services: list[NonBlank] = Field(
        default_factory=list, description="The school's own accounts and sites on platforms that are otherwise "
                                          "personal (hosts; a URL is accepted and its host used): a school address "
                                          "used there is not a finding.",
        json_schema_extra={"examples": [["www.stmarys-angels.sch.uk", "stmarysangels.wordpress.com"]]})
    official_accounts: list[AccountUrl] = Field(
        default_factory=list, description="The school's own accounts and pages on social media, as their addresses "
                                          "(a bare host covers the whole site): a post made there (its address, or "
                                          "the page it is made from) follows the pack's rules for official "
                                          "accounts, a warning to check consent, instead of the rules for personal "
                                          "accounts; a school address used there is not a finding.",
        json_schema_extra={"examples": [["https://www.facebook.com/StMarysAngels", "https://x.com/StMarysAngels",
                                         "stmarysangels.wordpress.com"]]})

    time_zone: Str = Field("Europe/London", description="The school's time zone (an IANA name): the dashboard "
                                                        "shows times in it, and alert digests are sent by it.",
                           json_schema_extra={"examples": ["Europe/London"]})

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, name: str) -> str:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not a time zone name (like Europe/London): {name!r}") from None
        return name

    @field_validator("pack")
    @classmethod
    def _pack_exists(cls, pack: str) -> str:
        if pack:
            try:
                resolve(pack)
            except PackError as exc:
                raise ValueError(str(exc)) from None
        return pack


class Service(Table):
    """The local service (postguard run): the monitoring record's database, its retention, the extension's origins
    and the alert mail server."""

    database: Str = Field("", description="The monitoring record's database as an SQLAlchemy URL (postgresql://...); "
                                          "empty: the SQLite file events.sqlite3 in data_dir. A command's --database "
                                          "overrides it.",
                          json_schema_extra={"examples": ["postgresql://postguard@localhost/postguard"]})
    verify_key: Str = Field("", description="Where the record's verification key is written when the record begins "
                                            "(its first sealing key; `postguard log verify` checks every row "
                                            "against it). Empty: verify_key in data_dir. Put it where the staff "
                                            "account cannot read it (the record's service account's or IT's "
                                            "folder): whoever holds it can re-seal the whole record.",
                            json_schema_extra={"examples": ["/var/lib/postguard-keys/verify_key"]})
    anchors: Str = Field("", description="The file the record's chain head is anchored in, outside the database, so "
                                         "that a database restored from an older copy shows. Empty: anchors in "
                                         "data_dir. Best in a folder the staff account cannot write.",
                         json_schema_extra={"examples": ["/var/log/postguard/anchors"]})
    retention_days: Int = Field(90, ge=1, le=3650, description="How many days events are kept, unless a pack's rule "
                                                               "says otherwise (the dashboard's setting overrides it).")
    extension_origins: list[Str] = Field(default_factory=list,
                                         description="The browser extension's origins the service accepts (the "
                                                     "extension's options page prints the line).",
                                         json_schema_extra={"examples": [["chrome-extension://<the extension's id>"]]})
    smtp_host: Str = Field("localhost", description="The mail server alerts are sent through.")
    smtp_port: Int = Field(25, ge=1, le=65535, description="The mail server's port (25 or 587 with starttls, 465 "
                                                           "with tls).")
    smtp_tls: Annotated[Literal["starttls", "tls", "none"], Label("\"starttls\", \"tls\" or \"none\"")] = Field(
        "starttls", description="How alert mail is encrypted: starttls (the server must offer STARTTLS, else nothing "
                                "is sent: never a silent fall back to plain text), tls (TLS from the first byte, "
                                "usually port 465) or none (plain text; only for a relay on this computer). The "
                                "server's certificate is checked against the system's trusted CAs.")
    smtp_user: Str = Field("", description="The login at the mail server; empty: no login. The password is read "
                                           "from smtp_password_file. A login is refused over smtp_tls = \"none\" "
                                           "unless the server is on this computer.")
    smtp_password_file: PathValue | None = Field(None, description="A file holding the mail login's password (its "
                                                                   "owner's only: mode 0600, else it is not read); "
                                                                   "never the password itself in this file.",
                                                 json_schema_extra={"examples": ["~/.config/postguard/smtp-password"]})
    alert_from: Str = Field("postguard@localhost", description="The From address of alert mail.")


class Proxy(Table):
    """The proxy (postguard run, or mitmdump -s proxy_addon/addon.py): how long it may spend inspecting one post."""

    inspection_budget_s: Number = Field(5.0, gt=0, le=300, description="Seconds the proxy may spend inspecting one "
                                        "post (waiting for a free inspector included). Past it the inspection is "
                                        "abandoned and logged as an inspection error, and the post is handled as "
                                        "any post that could not be inspected (the pack's fail_mode): never as "
                                        "clean.")


class Forward(Table):
    """Forwarding this laptop's record to the trust server (postguard enrol, postguard forward, postguard run)."""

    interval_s: Number = Field(60.0, ge=1, le=86400, description="Seconds between forwards while postguard run is "
                                                                 "running (new events are sent at the next one).")
    max_backlog: Int = Field(100_000, ge=100, le=10_000_000,
                             description="The most events waiting to be forwarded. Past it the oldest are given up "
                                         "and an event records how many: the server sees the gap as declared.")
    timeout_s: Number = Field(30.0, gt=0, le=600, description="Seconds one request to the server may take.")
    retry_cap_s: Number = Field(3600.0, ge=1, le=86400,
                                description="The longest wait between retries while the server cannot be reached "
                                            "(full-jitter exponential backoff from 5 s up to this).")
    ca_file: Str = Field("", description="The certificate authority the server's TLS certificate is checked against; "
                                         "empty: the system's.")


class Server(Table):
    """The trust server (postguard server run)."""

    hosts: list[Str] = Field(default_factory=list,
                             description="The host names the server answers to (its address behind the trust's "
                                         "reverse proxy); loopback always.",
                             json_schema_extra={"examples": [["postguard.trust.example.org"]]})
    silent_days: Int = Field(3, ge=1, le=365, description="Days without a word from an enrolled device before an "
                                                          "event says it has gone silent.")
    name: Str = Field("postguard", description="The server's name in its signed checkpoints (e.g. the trust's "
                                               "domain).", json_schema_extra={"examples": ["postguard.trust.example"]})
    checkpoint_to: Str = Field("", description="Who receives the daily signed checkpoint by e-mail (the DPO: an "
                                               "outside witness of what the record held); empty: nobody. Sent "
                                               "through the [service] mail settings.",
                               json_schema_extra={"examples": ["dpo@trust.example"]})


def _extension_id(value: str) -> str:
    value = value.strip()
    if value and not re.fullmatch(r"[a-p]{32}", value):
        raise ValueError(f"not a Chrome extension id (32 letters a to p): {value!r}")
    return value


def _https_or_empty(value: str) -> str:
    value = value.strip()
    if value and not re.match(r"https?://[^/\s]+", value):
        raise ValueError(f"not an http(s) address: {value!r}")
    return value


ExtensionId = Annotated[str, Strict(), AfterValidator(_extension_id), Label("extension id (32 letters a-p)")]
Url = Annotated[str, Strict(), AfterValidator(_https_or_empty), Label("http(s) address")]


class Deploy(Table):
    """Deployment on every school laptop (postguard deploy writes the policies, profiles and install scripts from
    these; the laptops read ca_dir)."""

    extension_id: ExtensionId = Field("", description="The extension's id in Chrome and Edge (from the Chrome Web "
                                                      "Store, or of the school's own packed .crx): the force-install "
                                                      "policy and the native messaging host name it. Required by "
                                                      "postguard deploy.",
                                      json_schema_extra={"examples": ["abcdefghijklmnopabcdefghijklmnop"]})
    update_url: Url = Field("https://clients2.google.com/service/update2/crx",
                            description="Where Chrome and Edge fetch the extension (the Chrome Web Store's update "
                                        "URL, or the school's own update manifest for a self-hosted .crx).")
    firefox_install_url: Url = Field("", description="Where Firefox fetches the extension's signed .xpi (its "
                                                     "add-ons page's latest.xpi, or the school's own copy); empty: "
                                                     "Firefox's policies set the proxy and the CA but do not install "
                                                     "the extension.",
                                     json_schema_extra={"examples": [
                                         "https://addons.mozilla.org/firefox/downloads/latest/postguard/latest.xpi"]})
    service_port: Int = Field(8765, ge=1, le=65535, description="The local service's port on each laptop: the PAC "
                                                                "file's address (http://127.0.0.1:PORT/proxy.pac) "
                                                                "and the extension's service address.")
    proxy_port: Int = Field(8766, ge=1, le=65535, description="The proxy's port on each laptop (postguard run "
                                                              "--proxy-port).")
    server_url: Url = Field("", description="The trust server laptops enrol with at first start (postguard enrol); "
                                            "empty: laptops keep their record locally.",
                            json_schema_extra={"examples": ["https://postguard.trust.example.org"]})
    ca_cert: Str = Field("", description="A root certificate (PEM) the generated profiles trust (macOS "
                                         "com.apple.security.root, Firefox Certificates, the Linux system store), "
                                         "relative to this file; empty: each laptop's install script trusts the "
                                         "CA it makes for that laptop.",
                         json_schema_extra={"examples": ["trust-root.pem"]})
    ca_dir: Str = Field("", description="The folder holding this laptop's proxy CA for every account on it "
                                        "(written by the install script, which trusts it in the machine's store); "
                                        "empty: each account's own CA in data_dir/mitmproxy.",
                        json_schema_extra={"examples": ["/var/lib/postguard/ca"]})


class _Root(Table):
    """The whole file."""

    data_dir: PathValue = Field(default_factory=_default_data_dir,
                                description="Where PostGuard keeps its monitoring log, keys, photo library and roster "
                                            "(readable by its owner only).")
    school: School = Field(default_factory=School, description=School.__doc__)
    trips: list[Trip] = Field(default_factory=list, description="School trips: photos taken on these dates, or at "
                                                                "the place, count as school photos. One [[trips]] "
                                                                "table each.")
    service: Service = Field(default_factory=Service, description=Service.__doc__)
    proxy: Proxy = Field(default_factory=Proxy, description=Proxy.__doc__)
    forward: Forward = Field(default_factory=Forward, description=Forward.__doc__)
    server: Server = Field(default_factory=Server, description=Server.__doc__)
    deploy: Deploy = Field(default_factory=Deploy, description=Deploy.__doc__)
    alerts: Alerts = Field(default_factory=Alerts, description=Alerts.__doc__)
    sso: Sso = Field(default_factory=Sso, description=Sso.__doc__)
    _path: Path | None = PrivateAttr(None)

    @property
    def path(self) -> Path | None:
        """The file this was read from (None: defaults, or a config given as a dict)."""
        return self._path


def assemble(detectors) -> type[_Root]:
    """The file's schema: data_dir, [school], [[trips]], [service], and the table of each detector that owns one."""
    tables = {}
    for detector in detectors:
        if detector.table is None:
            continue
        if detector.table in fields_of(_Root) or detector.table in tables:
            raise TypeError(f"{detector.__name__}.table {detector.table!r} is already a config table")
        options = detector.Options
        tables[detector.table] = (options, Field(default_factory=options, description=(options.__doc__ or "").strip()))
    model = create_model("Config", __base__=_Root, __module__=__name__, **tables)
    model.__doc__ = "The configuration: data_dir, [school], [[trips]], [service] and each detector's own table."
    return model


Config = assemble(DETECTORS)


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


def parse_config(doc: dict, path: Path | None = None) -> Config:
    """The config a TOML document (as a dict) describes; ConfigError `<file>: <dotted.key>: <why>` if it is wrong.
    Relative paths in it (school.logos) are read relative to the file."""
    where = str(path) if path else "config"
    try:
        config = Config.model_validate(doc, context={"base": Path(path).parent if path else None})
    except ValidationError as exc:
        raise explain(exc, where, Config) from None
    config._path = Path(path) if path else None
    return config


# -- the template `postguard init` writes, and docs/configuration.md: both from the schema -----------------------------

WIDTH = 118


def toml_value(value) -> str:
    """A value as TOML writes it (inline tables for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _default(field, data_dir: Path | None = None):
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, Path) and data_dir is not None:
        value = data_dir
    return value


def _extra(field, key: str):
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return extra.get(key)


def _help(field) -> str:
    text = " ".join((field.description or "").split())
    one_of = _extra(field, "one_of")
    if one_of:
        text += f" The packs shipped: {', '.join(one_of)}."
    return text


def _comment(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH - len(indent) - 2, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}# ",
                         break_on_hyphens=False)


def _tables(model=None) -> list[tuple[str, object, type]]:
    """(name, field, model) for each table of the file, in order; [[array]] tables have a list[model] field."""
    out = []
    for name, field in fields_of(model or Config).items():
        inner, entry = strip(field.annotation), element(field.annotation)
        if is_model(inner):
            out.append((name, field, inner))
        elif entry is not None and is_model(strip(entry)):
            out.append((name, field, strip(entry)))
    return out


def template(data_dir: Path | None = None) -> str:
    """The commented config file `postguard init` writes: every key with its help and its default."""
    lines = ["# PostGuard configuration (TOML). Lines starting with # are comments; every key is shown with its",
             "# default. docs/configuration.md describes each one.", ""]
    tables = {name for name, _, _ in _tables()}
    for name, field in fields_of(Config).items():
        if name in tables:
            continue
        lines += _comment(_help(field))
        lines.append(f"{name} = {toml_value(_default(field, data_dir or _default_data_dir()))}")
    for name, field, model in _tables():
        lines.append("")
        array = not is_model(strip(field.annotation))
        if array:  # [[trips]]: none by default, so an example, commented out
            lines += _comment(_help(field))
            lines.append(f"# [[{name}]]")
            for key, sub in fields_of(model).items():
                example = _extra(sub, "examples")
                lines += _comment(_help(sub), "# ")
                lines.append(f"# {key} = {toml_value(example[0] if example else _default(sub))}")
            continue
        lines += _comment(_help(field))
        lines.append(f"[{name}]")
        for key, sub in fields_of(model).items():
            lines += _comment(_help(sub))
            example = _extra(sub, "examples")
            if _default(sub) is None:  # not set: TOML has no null, so the example, commented out
                lines.append(f"# {key} = {toml_value(example[0])}")
                continue
            line = f"{key} = {toml_value(_default(sub))}"
            if example and example[0] != _default(sub):
                line = f"{line:<27} # e.g. {toml_value(example[0])}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def markdown() -> str:
    """docs/configuration.md: every table and key, with its type, default and help."""
    out = ["# Configuration", "",
           "<!-- Generated from the schema in rules/config.py and the detectors' Options: do not edit by hand;",
           "     run `python -m rules.config_docs > docs/configuration.md` (a test checks it is current). -->", "",
           "One TOML file, read once at start: `config.toml` in the user's config folder by default "
           "(`~/.config/postguard/config.toml` on Linux), or the file `--config` names (or `POSTGUARD_CONFIG`). "
           "`postguard init` writes it with every key at its default. An unknown table or "
           "key, a value of the wrong type or a bad value stops every command with exit status 2 and a message "
           "naming the file and the key, for example:", "",
           "```text",
           "postguard: config.toml: school.email_domian: unknown key (did you mean 'email_domains'?)",
           "```", ""]
    top = [(name, f) for name, f in fields_of(Config).items() if name not in {n for n, _, _ in _tables()}]
    out += ["## Top level", "", *_key_table("", top), ""]
    for name, field, model in _tables():
        array = not is_model(strip(field.annotation))
        out += [f"## `[[{name}]]`" if array else f"## `[{name}]`", "", _help(field), ""]
        out += [*_key_table(name, list(fields_of(model).items())), ""]
        for key, sub, entry in _tables(model):  # school.sites, school.cameras, trips.place
            many = not is_model(strip(sub.annotation))
            about = " ".join((entry.__doc__ or "").split()) if many else _help(sub)
            out += [f"### `{name}.{key}` {'entries' if many else 'table'}", "", about, "",
                    *_key_table(f"{name}.{key}{'[]' if many else ''}", list(fields_of(entry).items())), ""]
        if array:
            example = {k: _extra(f, "examples")[0] for k, f in fields_of(model).items() if _extra(f, "examples")}
            out += ["```toml", f"[[{name}]]", *(f"{k} = {toml_value(v)}" for k, v in example.items()), "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _key_table(prefix: str, fields: list) -> list[str]:
    rows = ["| Key | Type | Default | What it is |", "| --- | --- | --- | --- |"]
    for key, field in fields:
        name = f"{prefix}.{key}" if prefix else key
        if _extra(field, "shown_default") is not None:
            default = f"`{toml_value(_extra(field, 'shown_default'))}`"
        elif field.is_required():
            default = "required"
        elif key == "data_dir":
            default = "the user data folder (`~/.local/share/postguard` on Linux)"
        elif _default(field) is None:
            default = "not set"
        else:
            default = f"`{toml_value(_default(field))}`"
        text = _help(field)
        example = _extra(field, "examples")
        if example:
            text += f" Example: `{toml_value(example[0])}`."
        rows.append(f"| `{name}` | {field_label(field)} | {default} | {text.replace('|', '/')} |")
    return rows

