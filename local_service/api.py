"""The extension's API (and the standalone proxy addon's), JSON under /api/v1.

The app's gate has already checked the Host, the Origin and the token. Views parse, call the engine, store or broker,
and answer; bad input raises ValueError, which one handler turns into a 400 {"error": ...}.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import time
import uuid
from importlib import metadata
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from rules import Attachment, Submission, Verdict
from rules.detectors.pupil_image import PIXELS
from rules.media import StripError
from rules.record.events import EMAIL, Event, from_verdict, mask_email
from rules.record.hold import PROXY_FRESH_S, fingerprint
from rules.record.outcomes import override_events, removal_events
from rules.vocabulary import CHOICE_OUTCOME, CHOICES

from .payloads import CheckIn, DecisionIn, EventsIn, FileIn, HoldIn, IdentityIn, NoticeIn, ValidationError, \
    read_json, validation_message
from .services import services
from .tickets import issue_staff_ticket
from .broker import Broker, Full, NotPending

bp = Blueprint("api", __name__, url_prefix="/api/v1")

EVENT_IDS = uuid.UUID("3f2846b2-2c23-484f-a553-451d59c7cf16")  # uuid5 namespace of decision events: never change
REASON_LEN = (3, 300)
MAX_SUMMARY, MAX_NOTICE, MAX_BATCH = 64 << 10, 4 << 10, 1000
MIME = re.compile(r"[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+\"-]+)*")
try:
    VERSION = metadata.version("postguard")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = "0+unknown"


def get_broker(app: Flask) -> Broker:
    """The app's one Broker (held requests, notices, recent checks), created with the app."""
    return app.extensions["postguard"].broker


def _broker() -> Broker:
    return get_broker(current_app)


@bp.errorhandler(ValueError)
def _bad_input(exc: ValueError):
    return jsonify(error=str(exc)), 400


@bp.errorhandler(ValidationError)
def _bad_payload(exc: ValidationError):
    """The one place a payload's schema error becomes a 400 {"error": "<field path>: <why>"}."""
    return jsonify(error=validation_message(exc)), 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if exc.code == 413:
        limit = request.max_content_length
        return jsonify(error=f"this request is too large: the service accepts at most {limit} bytes"
                       if limit else "this request is too large"), 413
    return jsonify(error=exc.description), exc.code


def _error(status: int, message: str):
    return jsonify(error=message), status


# -- the extension ---------------------------------------------------------------------------------------------------

@bp.get("/health")
def health():
    s = services()
    seen = None if s.extension_seen is None else round(time.monotonic() - s.extension_seen, 1)
    return jsonify(ok=True, version=VERSION, pack={"id": s.engine.pack.id, "name": s.engine.pack.name},
                   proxy=_broker().proxy_active(PROXY_FRESH_S), user=s.user,
                   # postguard status asks (token, no Origin: not counted as the extension's call)
                   extension={"connected": s.extension_connected(), "seen_s_ago": seen})


@bp.post("/identity")
def identity():
    """The school e-mail the browser is signed in with: this laptop's events of this OS account name it from now on
    (issue 15, attribution). Only an address in one of the school's e-mail domains is kept: a personal address is
    not the school's to record."""
    s = services()
    email = IdentityIn.model_validate(_json()).email.strip().lower()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise ValueError("email must be an e-mail address")
    domain = email.rpartition("@")[2]
    if not any(domain == d or domain.endswith("." + d) for d in s.config.school.email_domains):
        return jsonify(kept=False, why="not one of the school's e-mail domains ([school] email_domains): a "
                                       "personal address is not recorded")
    s.store.set_school_email(s.user, email)
    return jsonify(kept=True, email=email, user=s.user)


@bp.post("/check")
def check():
    """What the pack finds in a post; remembered for an hour so the decision can be logged without resending it."""
    submission, whole = _submission()
    verdict = services().engine.evaluate(submission)
    check_id = str(uuid.uuid4())
    # a file sent as its metadata is answered for by the whole file's digest too: the proxy sees the whole file
    _broker().checks.put(check_id, {"url": submission.url, "verdict": verdict,
                                    "fingerprints": [fingerprint(f.data) for f in submission.files] + whole})
    settings = services().engine.pack.settings
    return jsonify(check_id=check_id, **verdict.to_dict(),
                   override_reasons=list(settings.get("override_reasons", [])))


@bp.post("/strip")
def strip():
    """The file with what the pack can remove (location) removed, losslessly; 422 when that cannot be done."""
    att = _one_file()
    try:
        cleaned, removed = services().engine.sanitise(att)
    except StripError as exc:
        return jsonify(error=f"PostGuard cannot remove the location from {att.name} safely, so it has not "
                             f"changed the file. Do not post it as it is: share a screenshot or an export "
                             f"without location instead.", detail=str(exc), name=att.name), 422
    if removed:  # the page posts this copy next: the person's answer for the original covers it in the proxy
        _broker().remember_cleaned(fingerprint(att.data), fingerprint(cleaned.data))
    response = send_file(io.BytesIO(cleaned.data), as_attachment=True, download_name=att.name, conditional=False,
                         etag=False)
    response.headers["Content-Type"] = att.content_type if MIME.fullmatch(att.content_type) else \
        "application/octet-stream"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-PostGuard-Removed"] = ", ".join(quote(r.replace(",", " "), safe=" :/()[]-_.")
                                                        for r in removed)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/decision")
def decision():
    """What the person chose for a checked or held post: one event per finding, logged once however often sent."""
    body = _json()
    if "choice" in body and body["choice"] not in CHOICES:  # the message the extension has always had
        raise ValueError(f"choice must be one of {', '.join(CHOICES)}, not {body['choice']!r}")
    given = DecisionIn.model_validate(body)
    check_id, pending_id = given.check_id or "", given.pending_id or ""
    if bool(check_id) == bool(pending_id):
        raise ValueError("give either check_id (from /check) or pending_id (a post the proxy holds), not both")
    choice = str(given.choice)
    reason = _reason(given.reason, required=choice == "post_anyway")
    key = given.idempotency_key or given.event_id_prefix or request.headers.get("Idempotency-Key", "")[:100]
    user, page = _user(body), given.url or ""  # all input checked before anything is decided
    broker = _broker()
    if pending_id:
        try:
            held = broker.decide(pending_id, choice, reason)
        except KeyError:
            return _error(404, "no held post has this id (it ended, or the service restarted)")
        except NotPending as exc:
            return _error(409, str(exc))
        url, verdict, base = held.url, Verdict.from_dict(held.summary), f"pending:{pending_id}"
    else:
        entry = broker.checks.get(check_id)
        try:
            first = broker.checks.claim(check_id, "choice", choice)
        except KeyError:
            entry = None
        if entry is None:
            return _error(404, "this check is unknown or more than an hour old: check the post again")
        if first != choice:
            return _error(409, f"this check was already answered with {first!r}: check the post again")
        url, verdict, base = entry["url"], entry["verdict"], f"check:{check_id}"
        if choice == "post_anyway":  # the page removed the location first when the pack says it always goes
            broker.remember_answer(broker.with_cleaned(entry.get("fingerprints", [])), choice, reason)
        elif choice == "fix":  # what the proxy sees next is the copy /strip cleaned: it must not ask again
            broker.remember_answer(broker.with_cleaned(entry.get("fingerprints", [])), choice)
    s = services()
    if choice == "fix":  # what "Remove location" removed is "sanitised"; a pupil photo beside it went out: "allowed"
        events = removal_events(verdict, chosen=True, url=page or url, user=user, device=s.device, source="extension")
    elif choice == "post_anyway":  # the answer covers what the dialog asked; what the pack removes whatever is
        # decided (a location under "sanitise": the page or the proxy removes it) is "sanitised", never "overridden"
        events = override_events(verdict, reason=reason, url=page or url, user=user, device=s.device,
                                 source="extension")
    else:
        events = from_verdict(verdict, url=page or url, user=user, device=s.device, source="extension",
                              decision=CHOICE_OUTCOME[choice])
    for i, event in enumerate(events):  # a retry makes the same ids, and the store keeps each id once
        event.id = str(uuid.uuid5(EVENT_IDS, f"{base}:{key}:{event.rule}:{i}"))
    return jsonify(ok=True, decision=CHOICE_OUTCOME[choice], event_ids=s.store.append(events))


@bp.get("/pending")
def pending_list():
    return jsonify(pending=[p.to_dict() for p in _broker().pending()])


@bp.get("/stream")
def stream():
    """Server-Sent Events: held posts (pending, decided, expired) and notices. Ends after STREAM_SECONDS; the
    browser's EventSource reconnects with Last-Event-ID and misses nothing still in the ring."""
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id", "")
    subscription = _broker().subscribe(int(last) if last.isdigit() else None)
    lifetime = float(current_app.config.get("STREAM_SECONDS", 60))
    beat = float(current_app.config.get("STREAM_HEARTBEAT_SECONDS", 15))

    def events():
        end = time.monotonic() + lifetime
        next_beat = time.monotonic() + beat
        yield "retry: 1000\n\n"
        while (now := time.monotonic()) < end:
            for message in subscription.next(min(end, next_beat) - now):
                yield message.sse()
            if time.monotonic() >= next_beat:
                yield ": heartbeat\n\n"
                next_beat += beat

    return Response(events(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@bp.post("/me-link")
def me_link():
    return jsonify(url=f"/me/{issue_staff_ticket(services().user)}")


# -- the proxy addon, when it runs in its own process --------------------------------------------------------------

@bp.post("/pending")
def hold():
    given = HoldIn.model_validate(_json())
    summary = _summary(given.summary)
    timeout = given.timeout_s or services().engine.pack.settings.get("warn_timeout_s", 120)
    broker = _broker()
    broker.proxy_seen()
    try:
        held = broker.hold(summary, float(timeout))
    except Full as exc:
        return _error(503, str(exc))
    return jsonify(pending_id=held.id, deadline=held.to_dict()["deadline"])


@bp.get("/pending/<pending_id>/wait")
def wait(pending_id: str):
    """Long poll: the decision once made; null with state "pending" when the poll ends first, or "expired"."""
    timeout = float(request.args.get("timeout", 25))  # a ValueError is the 400 it should be
    if not math.isfinite(timeout):
        raise ValueError(f"timeout must be a number of seconds, not {request.args.get('timeout')!r}")
    timeout = min(max(timeout, 0.0), 30.0)
    broker = _broker()
    broker.proxy_seen()
    held = broker.get(pending_id)
    if held is None:
        return _error(404, "no held post has this id")
    found = held.wait(timeout)
    return jsonify(pending_id=held.id, state=held.state, decision=found.to_dict() if found else None)


@bp.post("/notices")
def notices():
    body = _json()
    notice = body.get("notice")
    if not isinstance(notice, dict) or not isinstance(notice.get("message"), str) or not notice["message"].strip():
        raise ValueError('notice must be an object with a "message", e.g. {"notice": {"message": "..."}}')
    NoticeIn.model_validate(body)  # the notice is passed on as sent (its other keys too), once it is typed
    if len(json.dumps(notice)) > MAX_NOTICE:
        raise ValueError(f"a notice is at most {MAX_NOTICE} bytes")
    broker = _broker()
    broker.proxy_seen()
    return jsonify(id=broker.notify(notice).id)


@bp.post("/events")
def events_batch():
    """Events the proxy decided on its own, written through this service's store."""
    body = _json()
    batch = body.get("events")
    if not isinstance(batch, list) or not 0 < len(batch) <= MAX_BATCH:
        raise ValueError(f"events must be a list of 1 to {MAX_BATCH} event objects")
    EventsIn.model_validate(body)  # each event is then checked by the record's own boundary, Event
    out = []
    for i, item in enumerate(batch):
        if not isinstance(item, dict):
            raise ValueError(f"events[{i}] is not an object")
        try:
            out.append(Event.from_dict({"source": "proxy", **item}))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"events[{i}]: {exc}") from None
    _broker().proxy_seen()
    return jsonify(ids=services().store.append(out))


@bp.post("/proxy/heartbeat")
def heartbeat():
    _broker().proxy_seen()
    return jsonify(ok=True)


# -- parsing ---------------------------------------------------------------------------------------------------------

def _json() -> dict:
    """The body as a JSON object, bounded in size (MAX_CONTENT_LENGTH, a 413) and depth (payloads.read_json)."""
    return read_json(request.get_data(cache=True), request.is_json)


def _is_form() -> bool:
    return request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded")


def _submission() -> tuple[Submission, list[str]]:
    """The submission, and the SHA-256 of each whole file the extension sent only part of (its metadata)."""
    if _is_form():
        form = request.form
        fields = [(k, v) for k, v in form.items(multi=True) if k not in ("_url", "_method")]
        files = [Attachment(_file_name(f.filename or k), f.read(), f.mimetype or "", k)
                 for k, f in request.files.items(multi=True)]
        return Submission(url=form.get("_url", ""), method=form.get("_method", "POST"), fields=fields, files=files), []
    body = _json()
    files = body.get("files", [])
    if not isinstance(files, list):
        raise ValueError("files must be a list of {name, type, data}")
    fields = _fields(body.get("fields", []))  # the messages the extension has always had, then the schema
    given = CheckIn.model_validate(body)  # strict: it checks types and lengths, and changes no value
    files = [_attachment(f, f"files[{i}]") for i, f in enumerate(given.files)]
    # A big photo sent as its metadata (slices) with a downscaled copy: the copy is its pixels, for pupil.image only
    # (rules/detectors/pupil_image.py); every other detector reads the metadata, and the proxy the whole upload.
    pixels = {att.field: _base64(f.pixels, f"{att.field}.pixels") for att, f in zip(files, given.files) if f.pixels}
    return Submission(url=given.url or "", method=given.method or "POST", fields=fields, files=files,
                      context={PIXELS: pixels} if pixels else {}), [f.sha256 for f in given.files if f.sha256]


def _fields(value) -> list[tuple[str, str]]:
    pairs = list(value.items()) if isinstance(value, dict) else value
    if not isinstance(pairs, list):
        raise ValueError("fields must be [[name, value], ...] or {name: value}")
    out = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str) or \
                isinstance(pair[1], (dict, list)) or pair[1] is None:
            raise ValueError(f"bad field {pair!r}: expected [name, text]")
        out.append((pair[0], pair[1] if isinstance(pair[1], str) else json.dumps(pair[1])))
    return out


def _attachment(d, where: str) -> Attachment:
    if isinstance(d, dict):
        if not isinstance(d.get("data"), str):
            raise ValueError(f'{where} must be {{"name", "type", "data": base64}}')
        d = FileIn.model_validate(d)
    return Attachment(_file_name(d.name or "file"), _base64(d.data, f"{where}.data"), d.type or "", where)


def _base64(data: str, where: str) -> bytes:
    if data.startswith("data:") and ";base64," in data[:200]:  # a data: URL, as FileReader gives it
        data = data.split(",", 1)[1]
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where} is not valid base64") from None


def _one_file() -> Attachment:
    if _is_form():
        files = list(request.files.items(multi=True))
        if len(files) != 1:
            raise ValueError(f"send exactly one file (got {len(files)})")
        key, f = files[0]
        return Attachment(_file_name(f.filename or key), f.read(), f.mimetype or "", key)
    return _attachment(_json(), "file")


def _file_name(name: str) -> str:
    """The name only: no folders a browser or tool may have sent, no control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if c.isprintable()).strip()[:255] or "file"


def _opt_str(body: dict, key: str, limit: int) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{key} must be a string of at most {limit} characters")
    return value


def _reason(value, required: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError("posting anyway needs a reason (3 to 300 characters)")
        return ""
    if not isinstance(value, str) or not REASON_LEN[0] <= len(value.strip()) <= REASON_LEN[1]:
        raise ValueError("reason must be 3 to 300 characters")
    return " ".join(value.split())


def _user(body: dict) -> str:
    """The extension's signed-in profile when it is a school address; any other address is kept masked (the log
    needs to know whose post it was, not someone's personal account); otherwise the local login."""
    given = _opt_str(body, "user", 120).strip()
    if not given:
        return services().user
    if not given.isprintable():
        raise ValueError("user must be printable text")
    if EMAIL.fullmatch(given):
        domain = given.rsplit("@", 1)[1].lower()
        school = services().config.school.email_domains
        return given.lower() if any(domain == d or domain.endswith("." + d) for d in school) else mask_email(given)
    return given


def _summary(value) -> dict:
    """A held request's summary from the proxy: checked now, so the decision can always be logged later."""
    if not isinstance(value, dict):
        raise ValueError('summary must be an object: {"url", "findings": [...], "errors": [...]}')
    if len(json.dumps(value)) > MAX_SUMMARY:
        raise ValueError(f"summary is larger than {MAX_SUMMARY} bytes")
    try:
        verdict = Verdict.from_dict(value)
    except ValueError as exc:
        raise ValueError(f"summary.{exc}") from None
    return {"url": _opt_str(value, "url", 8192), "method": _opt_str(value, "method", 10) or "POST",
            **verdict.to_dict()}
