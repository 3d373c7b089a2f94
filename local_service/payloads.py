"""The API's payloads: how a JSON body is read (bounded in size and depth) and the schema each endpoint's body has.

`read_json` is the only way a view reads a JSON body; the models are strict (no "12" for 12, no 1 for "1"), limit
every string, and take their choices from rules/vocabulary.py. A pydantic ValidationError becomes a 400 in api.py
(`validation_message`), so a malformed body is always a 4xx and never reaches the store.
"""
from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError

from rules.vocabulary import Choice

MAX_DEPTH = 64  # deeper than any body the extension or the proxy sends, far below Python's recursion limit
MAX_URL, MAX_ID, MAX_KEY, MAX_NAME = 8192, 64, 100, 255
MAX_FILES, MAX_FIELDS, MAX_BATCH = 100, 10_000, 1000

STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"', re.S)  # possessive: one pass, no backtracking
# A \uD800-\uDFFF escape that is not half of a pair: Python keeps it, and it cannot be encoded to be stored or hashed.
LONE_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|"
                            rb"(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")
NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BadJSON(ValueError):
    """A body that is not JSON, not an object, too deep or holding NaN/Infinity: a 400 with this message."""


def json_depth_ok(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    # Linear pre-scan, because json.loads recurses once per level and a 100k-deep body is a RecursionError (a 500):
    # strings are cut out by one possessive regex pass, bytes.translate keeps only brackets (both in C), and the
    # loop over what is left stops at the first level past the limit.
    depth = 0
    for b in STRING.sub(b"", raw).translate(None, NOT_BRACKETS):
        depth += 1 if b in (0x5B, 0x7B) else -1
        if depth > limit:
            return False
    return True


def _no_constant(name: str):
    raise BadJSON(f"the body holds {name}, which is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJSON(f"the number {text[:20]} is too large")
    return value


def read_json(raw: bytes, is_json: bool) -> dict:
    """A request body as a JSON object, or BadJSON with a message the sender can act on."""
    if not is_json:
        raise BadJSON("the body must be a JSON object (Content-Type: application/json)")
    if not json_depth_ok(raw):
        raise BadJSON(f"the JSON body is nested more than {MAX_DEPTH} levels deep")
    if b"\\u" in raw and LONE_SURROGATE.search(raw):
        raise BadJSON("the JSON body holds a \\u escape of half a character (a lone surrogate)")
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except BadJSON:
        raise
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadJSON("the body must be a JSON object (Content-Type: application/json): it is not valid JSON") \
            from None
    if not isinstance(body, dict):
        raise BadJSON("the body must be a JSON object (Content-Type: application/json)")
    return body


UNION_TAGS = {"constrained-str", "str", "int", "float", "bool"}  # pydantic's names for a union's branches


def validation_message(exc: ValidationError) -> str:
    """The first problem as "<field path>: <why>"."""
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in UNION_TAGS or "[" in str(p)))
    where = where or "body"
    return f"{where}: {err['msg']}"


def Text(max_length: int, min_length: int = 0):  # noqa: N802 - a type
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length)]


class Exact(BaseModel):
    """The whole object is the API's: no unknown keys, no coercion."""
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Open(BaseModel):
    """An object the page or browser builds, which may carry keys this version does not read: those are ignored."""
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


Scalar = Union[Text(1 << 20), int, float, bool]


class FileIn(Open):
    """A file as JSON: its bytes in base64 (or a data: URL); decoded and checked by the view."""
    data: Annotated[str, StringConstraints(max_length=512 << 20)]
    name: Text(MAX_NAME) | None = None
    type: Text(MAX_NAME) | None = None
    # with `data` a big photo's metadata only (extension/src/lib/slices.js): a downscaled copy, its pixels
    pixels: Annotated[str, StringConstraints(max_length=32 << 20)] | None = None
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None  # ... and the whole file's


class CheckIn(Open):
    url: Text(MAX_URL) | None = None
    method: Text(10) | None = None
    fields: Annotated[list[Annotated[tuple[Text(MAX_NAME * 4), Scalar], Strict(False)]], Field(max_length=MAX_FIELDS)] | \
        dict[Text(MAX_NAME * 4), Scalar] = []
    files: Annotated[list[FileIn], Field(max_length=MAX_FILES)] = []


class DecisionIn(Exact):
    choice: Annotated[Choice, Strict(False)]  # the word, as JSON gives it (strict would want the enum)
    check_id: Text(MAX_ID) | None = None
    pending_id: Text(MAX_ID) | None = None
    reason: Text(2000) | None = None  # 3 to 300 characters once spaces are folded: checked by the view
    idempotency_key: Text(MAX_KEY) | None = None
    event_id_prefix: Text(MAX_KEY) | None = None
    user: Text(120) | None = None
    url: Text(MAX_URL) | None = None
    title: Text(1000) | None = None  # the extension's own label for its recent list; not logged


class IdentityIn(Exact):
    """The extension tells the service the school e-mail the browser is signed in with (Chrome's profile)."""
    email: Text(254)


class HoldIn(Exact):
    summary: dict[str, Any]  # checked by Verdict.from_dict, with its size limit, in the view
    timeout_s: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] | None = None


class NoticeBody(Open):
    message: Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]  # shown as is
    kind: Text(64) | None = None
    url: Text(MAX_URL) | None = None
    host: Text(255) | None = None


class NoticeIn(Exact):
    notice: NoticeBody


class EventIn(Open):
    """Lengths and JSON types of an event the proxy sends. Every key is optional here and unknown keys pass: the
    record's own boundary, Event.from_dict (rules/record/events.py), then refuses what is missing or unknown."""
    id: Text(64) | None = None
    time: Text(64) | None = None
    rule: Text(200) | None = None
    decision: Text(40) | None = None
    severity: Text(40) | None = None
    message: Text(4000) | None = None
    user: Text(320) | None = None
    device: Text(255) | None = None
    host: Text(255) | None = None
    path: Text(MAX_URL) | None = None
    reason: Text(2000) | None = None
    source: Text(40) | None = None
    clauses: Annotated[list[dict[str, Any]], Field(max_length=100)] | None = None
    evidence: dict[str, Any] | None = None


class EventsIn(Exact):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


class ContactIn(Exact):
    """A friend, follow or message action the extension saw on a profile: the name the page shows for the person."""
    url: Text(MAX_URL) | None = None
    action: Literal["friend", "follow", "message"]
    name: Text(MAX_NAME, min_length=1)


class ContactDecisionIn(Exact):
    """What the person chose in the contact dialog: cancel, report to the DSL, or "not a pupil" (with a reason)."""
    check_id: Text(MAX_ID, min_length=1)
    choice: Literal["cancel", "report", "not_pupil"]
    reason: Text(2000) | None = None  # 3 to 300 characters once spaces are folded: checked by the view
    idempotency_key: Text(MAX_KEY) | None = None
    url: Text(MAX_URL) | None = None
    title: Text(1000) | None = None  # the extension's own label for its recent list; not logged


def parse(model: type[BaseModel], body: dict):
    return model.model_validate(body)


__all__ = ["BadJSON", "CheckIn", "ContactDecisionIn", "ContactIn", "DecisionIn", "EventsIn", "FileIn", "HoldIn",
           "NoticeIn", "ValidationError", "json_depth_ok", "parse", "read_json", "validation_message", "MAX_DEPTH"]
