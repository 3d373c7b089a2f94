"""The monitoring log's one event schema, and the redaction every event passes before it is stored.

An event keeps what the admin needs (who, when, where, which rule and clause, what the person chose) and redacted
evidence: coordinates rounded to about 1 km, an email's local part masked, an identifier's last two characters,
never whole posts or images.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from ..vocabulary import ACTION_DECISION, DECISION_OUTCOME, OUTCOMES, SEVERITIES, Outcome

DECISIONS = OUTCOMES  # an event's `decision` is what happened to the post

MAX_TEXT = 120  # no evidence string longer than this is kept: enough to recognise, never a whole post
MAX_MESSAGE = 4000  # what the person was told is stored whole, up to this bound
MAX_REASON = 300  # the person's reason for "Post anyway" (the API takes 3 to 300), or why a post went as it did
EMAIL = re.compile(r"([A-Za-z0-9._%+-]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
DROP_KEYS = {"text", "body", "content", "data", "bytes", "image", "post", "value", "raw", "html"}
COORD_KEYS = {"lat", "lon", "latitude", "longitude"}
IDENTIFIER_KEYS = {"identifier", "upn", "uln", "nhs_number", "ni_number", "match"}
DIGIT = re.compile(r"\d")  # every identifier redacted by key (UPN, ULN, NHS and NI numbers) has digits


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Event:
    rule: str
    decision: str
    severity: str = "info"
    clauses: list[dict] = field(default_factory=list)  # [{"ref": ..., "text": ...}]
    message: str = ""
    user: str = ""
    email: str = ""  # the person's school e-mail, where the extension knows it (a laptop's store stamps it)
    device: str = ""
    host: str = ""
    path: str = ""
    reason: str = ""  # the person's reason for "Post anyway", or why inspection failed
    source: str = ""  # proxy, extension, cli, service
    evidence: dict = field(default_factory=dict)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=utcnow)

    def __post_init__(self):
        _check_types(self)  # before anything reads a field: nothing malformed may reach the store or the hash
        if self.decision not in DECISIONS:
            raise ValueError(f"unknown decision {self.decision!r} (one of {', '.join(DECISIONS)})")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r} (one of {', '.join(SEVERITIES)})")
        uuid.UUID(self.id)  # raises ValueError on a bad id
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("event time must be timezone-aware (UTC)")
        self.time = self.time.astimezone(timezone.utc)
        if not EARLIEST <= self.time <= utcnow() + FUTURE_SLACK:
            raise ValueError(f"event time {self.time.isoformat()} is out of range (2000 to a day from now)")
        self.evidence = redact(self.evidence)
        self.reason = redact(self.reason, limit=MAX_REASON)  # free text a person typed may hold an address
        self.message = redact(self.message, limit=MAX_MESSAGE)  # what the person was told, whole
        if self.path:
            self.host, self.path = split_url(self.path, self.host)
        if self.email:
            self.email = self.email.strip().lower()
            if len(self.email) > 254 or not EMAIL.fullmatch(self.email):
                raise ValueError("event field 'email' must be an e-mail address")

    def to_dict(self) -> dict:
        # Field by field: dataclasses.asdict deep-copies evidence, and this runs for every event the log hashes.
        d = {f.name: getattr(self, f.name) for f in FIELDS}
        d["time"] = self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if not d["email"]:
            del d["email"]  # so events from before the field, and those without one, keep the content they had
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown event field {sorted(unknown)[0]!r}")
        d = dict(d)
        missing = {"rule", "decision"} - set(d)
        if missing:
            raise ValueError(f"missing event field {sorted(missing)[0]!r}")
        if isinstance(d.get("time"), str):
            d["time"] = datetime.fromisoformat(d["time"].replace("Z", "+00:00"))
        return cls(**d)

    @classmethod
    def stored(cls, **fields) -> "Event":
        """An event as the store reads it back: it was checked and redacted when it was made, so it is rebuilt as it
        is, not checked again against today (after the clock went back, a row from "tomorrow" is still that event).
        Every field is given."""
        event = object.__new__(cls)
        for f in FIELDS:
            setattr(event, f.name, fields[f.name] if f.name != "email" else fields.get("email") or "")
        return event

    def content(self) -> bytes:
        """The canonical bytes the hash chain covers."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


FIELDS = dataclasses.fields(Event)
TEXT_FIELDS = ("rule", "decision", "severity", "id", "message", "user", "email", "device", "host", "path", "reason",
               "source")
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
FUTURE_SLACK = timedelta(days=1)
MAX_EVIDENCE_DEPTH = 16


def _check_types(event: Event) -> None:
    """Plain isinstance checks (the proxy makes an event per finding): a ValueError naming the first bad field."""
    for name in TEXT_FIELDS:
        if not isinstance(getattr(event, name), str):
            raise ValueError(f"event field {name!r} must be a string, not {type(getattr(event, name)).__name__}")
    clauses = event.clauses
    if not isinstance(clauses, list) or not all(
            isinstance(c, dict) and c.keys() == {"ref", "text"} and isinstance(c["ref"], str)
            and isinstance(c["text"], str) for c in clauses):
        raise ValueError("event field 'clauses' must be a list of {\"ref\": text, \"text\": text}")
    if not isinstance(event.evidence, dict) or not _is_json(event.evidence, 0):
        raise ValueError(f"event field 'evidence' must be an object of JSON values (at most {MAX_EVIDENCE_DEPTH} "
                         f"deep, finite numbers, text keys)")
    if not isinstance(event.time, datetime):
        raise ValueError(f"event field 'time' must be a datetime, not {type(event.time).__name__}")


def _is_json(value, depth: int) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth >= MAX_EVIDENCE_DEPTH:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_is_json(v, depth + 1) for v in value)
    return isinstance(value, (bytes, bytearray, memoryview))  # redact() keeps only their length


def split_url(url: str, host: str = "") -> tuple[str, str]:
    """Host and path only: query strings and fragments carry search terms, tokens and names."""
    parts = urlsplit(url if "//" in url else f"//{host}{url if url.startswith('/') else '/' + url}")
    return (parts.hostname or host or "").lower(), _short(parts.path or "/", 300)


def mask_email(email: str) -> str:
    m = EMAIL.fullmatch(email.strip())
    if not m:
        return "***"
    return f"{m.group(1)[:1]}***@{m.group(2).lower()}"


def redact(value, key: str = "", limit: int = MAX_TEXT):
    """Evidence as the log keeps it. Applied to every event, whoever wrote it; `limit` bounds a top-level text (an
    event's message or reason), evidence strings are kept to MAX_TEXT.

    Under an identifier key, a value with digits (a UPN, ULN, NHS or NI number) keeps its last two characters; one
    without is what kind of identifier was found ("Unique Pupil Number", "a name on the school roster") or how it
    matched ("yes", "place"), and is kept as text, emails masked.
    """
    k = key.lower()
    if isinstance(value, dict):
        return {name: redact(v, name) for name, v in value.items() if name.lower() not in DROP_KEYS}
    if isinstance(value, (list, tuple)):
        return [redact(v, key) for v in value[:20]]
    if isinstance(value, float) and k in COORD_KEYS:
        return round(value, 2)  # about 1 km
    if isinstance(value, str):
        if k in IDENTIFIER_KEYS and DIGIT.search(value):
            return "…" + value[-2:] if len(value) > 2 else "…"
        # masked before it is cut, so no email is cut short of its mask; read only as far as the bound needs
        return _short(EMAIL.sub(lambda m: mask_email(m.group(0)), value[:limit + 256]), limit)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    return value


def _short(text: str, n: int) -> str:
    text = text or ""
    return text if len(text) <= n else text[:n - 1] + "…"


def from_verdict(verdict, *, url: str = "", user: str = "", device: str = "", source: str = "",
                 decision: str | None = None, reason: str = "") -> list[Event]:
    """One event per finding of an engine verdict, with the decision the person (or the pack) took."""
    out = []
    for f in verdict.findings:
        out.append(Event(rule=f.rule, severity=f.severity, clauses=[dataclasses.asdict(c) for c in f.policy],
                         message=f.message, user=user, device=device, path=url, reason=reason, source=source,
                         evidence=f.evidence, decision=decision or _outcome(f.action)))
    for err in verdict.errors:
        out.append(Event(rule="inspection.error", severity="low", decision="inspection_error", user=user,
                         device=device, path=url, reason=err, source=source))
    return out


def _outcome(action: str) -> Outcome:
    """What a finding's own action did to the post, when nobody decided otherwise."""
    decision = ACTION_DECISION.get(action)
    return DECISION_OUTCOME[decision] if decision else Outcome.RECORDED
