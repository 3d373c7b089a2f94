"""Parsing the dashboard's query strings and forms. Pure functions: they raise ValueError naming the bad value, and
the views turn that into a 400 page once."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlsplit

from rules.record.events import DECISIONS, SEVERITIES
from rules.record.store import Filter

TEXT_FILTERS = ("user", "email", "device", "rule", "severity", "decision", "host", "school", "origin")  # origin: a device id
FILTER_PARAMS = ("since", "until", *TEXT_FILTERS)
MAX_VALUE = 300
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
RETENTION_RANGE = (1, 3650)


def parse_date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a date like 2026-11-01 (got {value!r})") from None


def parse_filter(args) -> tuple[Filter, dict]:
    """The events filter from a query string, and its canonical parameters (to rebuild links and to audit).

    `since` and `until` are whole days in UTC, both included."""
    params = {}
    for name in FILTER_PARAMS:
        value = (args.get(name) or "").strip()
        if not value:
            continue
        if len(value) > MAX_VALUE:
            raise ValueError(f"{name} is too long ({len(value)} characters)")
        params[name] = value
    if "severity" in params and params["severity"] not in SEVERITIES:
        raise ValueError(f"unknown severity {params['severity']!r} (one of {', '.join(SEVERITIES)})")
    if "decision" in params and params["decision"] not in DECISIONS:
        raise ValueError(f"unknown decision {params['decision']!r} (one of {', '.join(DECISIONS)})")
    since = parse_date("since", params["since"]) if "since" in params else None
    until = parse_date("until", params["until"]) if "until" in params else None
    if since and until and until < since:
        raise ValueError(f"until ({until}) is before since ({since})")
    flt = Filter(since=_midnight(since) if since else None,
                 until=_midnight(until + timedelta(days=1)) if until else None,
                 **{name: params.get(name) for name in TEXT_FILTERS})
    return flt, params


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=timezone.utc)


@dataclass
class AlertSettings:
    retention_days: int
    alert_email: str
    alert_webhook: str


def parse_settings(form) -> tuple[AlertSettings | None, dict[str, str]]:
    """The settings form: the parsed values, or None and an error message per field."""
    errors = {}
    raw_days = (form.get("retention_days") or "").strip()
    days = 0
    try:
        days = int(raw_days)
        if not RETENTION_RANGE[0] <= days <= RETENTION_RANGE[1]:
            raise ValueError
    except ValueError:
        errors["retention_days"] = (f"Enter a whole number of days from {RETENTION_RANGE[0]} to "
                                    f"{RETENTION_RANGE[1]} (got {raw_days!r}).")
    email = (form.get("alert_email") or "").strip()
    if email and (len(email) > 254 or not EMAIL_SHAPE.fullmatch(email)):
        errors["alert_email"] = f"Enter an email address like safeguarding@school.sch.uk (got {email!r})."
    webhook = (form.get("alert_webhook") or "").strip()
    if webhook:
        try:
            check_webhook(webhook)
        except ValueError as exc:
            errors["alert_webhook"] = str(exc)
    if errors:
        return None, errors
    return AlertSettings(days, email, webhook), {}


def check_webhook(url: str) -> None:
    """An alert webhook goes over HTTPS, or to a relay on this machine (http://127.0.0.1)."""
    if len(url) > 2000:
        raise ValueError("The webhook URL is too long.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ValueError(f"Not a URL: {url!r}.") from None
    if parts.username or parts.password:
        raise ValueError("The webhook URL must not contain a user name or password.")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname == "127.0.0.1":
        return
    raise ValueError(f"The webhook must start with https:// (or http://127.0.0.1 for a local relay); got {url!r}.")
