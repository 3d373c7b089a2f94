"""The [alerts] table: who is told about what, how soon, and through which channels (read by
local_service/alerts.py; declared here because rules/config.py assembles the whole file's schema).

A route names people, the school(s) and rules it covers, the least severity, and whether they hear at once
("instant"), in a daily digest or in a weekly summary. An escalation list alerts its first person, then the next
whenever nobody has acted on the post (its triage status still "new") within after_minutes. Instant alerts to one
person about one rule are throttled to one per throttle_minutes; the ones held back go into that person's next
digest, never dropped.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from .schema import Int, Label, NonBlank, Str, Table
from .vocabulary import Severity


def _email(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


def _syslog(value: str) -> str:
    value = value.strip()
    if value and not re.fullmatch(r"(udp|tcp|tls)://[^\s/:]+(:\d{1,5})?", value):
        raise ValueError(f"not udp://, tcp:// or tls://HOST[:PORT]: {value!r}")
    return value


Email = Annotated[str, AfterValidator(_email), Label("e-mail address")]
SeverityName = Annotated[Literal["info", "low", "medium", "high"], Label('"info", "low", "medium" or "high"')]
Syslog = Annotated[Str, AfterValidator(_syslog), Label("udp://, tcp:// or tls:// address")]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Route(Table):
    """Who hears about which events, and when."""

    to: list[Email] = Field(..., min_length=1, description="The people told (e-mail addresses).",
                            json_schema_extra={"examples": [["dsl@stmarys-angels.sch.uk"]]})
    school: NonBlank = Field("*", description="The school whose events this covers (its name as on the trust "
                                              "server, or [school] name on a laptop); \"*\": every school.")
    rules: list[NonBlank] = Field(default_factory=lambda: ["*"],
                                  description="The rules covered: rule ids (location.gps), a family ending in .* "
                                              "(location.*), or \"*\" for every rule.",
                                  json_schema_extra={"examples": [["location.*", "pupil.image"]]})
    severity: SeverityName = Field("high", description="The least severity covered.")
    when: Annotated[Literal["instant", "daily", "weekly"], Label('"instant", "daily" or "weekly"')] = Field(
        "instant", description="instant: an e-mail per event as it happens (throttled); daily: a digest each day "
                               "at digest_hour; weekly: a summary on weekly_day at digest_hour.")

    @field_validator("rules")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one rule, or \"*\"")
        return value


class Escalation(Table):
    """An ordered list of people: the first is alerted at once, the next after after_minutes if nobody acted."""

    people: list[Email] = Field(..., min_length=1, description="Who is alerted, in order (the DSL first, then the "
                                                                "deputy, then the headteacher).",
                                json_schema_extra={"examples": [["dsl@school.sch.uk", "head@school.sch.uk"]]})
    after_minutes: Int = Field(30, ge=1, le=10080, description="Minutes to wait for somebody to act on the post "
                                                               "(change its triage status from new) before the "
                                                               "next person is alerted.")
    school: NonBlank = Field("*", description="The school whose events this covers; \"*\": every school.")
    rules: list[NonBlank] = Field(default_factory=lambda: ["*"], description="The rules covered, as in a route.")
    severity: SeverityName = Field("high", description="The least severity covered.")


class Alerts(Table):
    """Alerts: routes (who gets what, and when), escalation lists, throttling, digests, and the webhook and
    syslog (CEF) channels. The dashboard's alert e-mail address is one more instant route for high-severity
    events."""

    routes: list[Route] = Field(default_factory=list, description="Who gets what: one [[alerts.routes]] table "
                                                                  "each.")
    escalation: list[Escalation] = Field(default_factory=list, description="Escalation lists: one "
                                                                           "[[alerts.escalation]] table each.")
    throttle_minutes: Int = Field(10, ge=0, le=1440, description="At most one instant alert per person and rule in "
                                                                 "this many minutes; later ones go into that "
                                                                 "person's next daily digest. 0: no throttling.")
    digest_hour: Int = Field(7, ge=0, le=23, description="The hour (in the school's time zone) daily digests and "
                                                         "weekly summaries are sent.")
    weekly_day: Annotated[Literal[WEEKDAYS], Label("a day of the week, in lower case")] = Field(
        "monday", description="The day weekly summaries are sent.")
    syslog: Syslog = Field("", description="A SIEM's syslog listener (RFC 5424 carrying CEF): tls://HOST:PORT (TLS, "
                                           "RFC 5425, port 6514 by default: best, the lines name staff), "
                                           "tcp://HOST:PORT (octet counting, RFC 6587) or udp://HOST:PORT (514). "
                                           "Empty: none.",
                           json_schema_extra={"examples": ["tls://siem.trust.example:6514"]})
    syslog_ca_file: Str = Field("", description="The CA certificate (PEM) a tls:// syslog listener's certificate is "
                                                "checked against; empty: the system's.")
    syslog_severity: SeverityName = Field("low", description="The least severity sent to syslog.")
    webhook_secret_file: Str = Field("", description="The file holding the key that signs webhook requests "
                                                     "(HMAC-SHA256, header PostGuard-Signature: t=TIME,v1=HEX over "
                                                     "\"TIME.BODY\"); empty: webhook_secret in data_dir, made at "
                                                     "first use.")

    @property
    def weekday(self) -> int:
        return WEEKDAYS.index(self.weekly_day)


SEVERITY_ORDER = {s.value: i for i, s in enumerate(Severity)}


def covers(patterns: list[str], rule: str) -> bool:
    """Whether a route's rules cover `rule`: "*", the id itself, or a family "location.*"."""
    return any(p == "*" or p == rule or (p.endswith(".*") and rule.startswith(p[:-1])) for p in patterns)


def at_least(severity: str, least: str) -> bool:
    return SEVERITY_ORDER.get(severity, 0) >= SEVERITY_ORDER.get(least, 0)
