"""The extension's contact API (contact.pupil, issue 18): /api/v1/contact/check and /api/v1/contact/decision.

The extension never holds the roster: it sends the name a profile page shows and the action (friend, follow,
message); the engine answers from the keyed hashes. The person's answer is logged once per check:
  cancel     -> "cancelled"
  report     -> "cancelled", with "Reported to the DSL: ..." as the reason and `reported_to_dsl` in the evidence
                (severity high, so the school's alert e-mail or webhook carries it to the DSL)
  not_pupil  -> "overridden", with "Not a pupil: <reason>" (a reason of 3 to 300 characters is required)
The record keeps the site (host) of the page, not its path: a profile's path names the person.
The app's gate has already checked the Host, the Origin and the token (the path is under /api/).
"""
from __future__ import annotations

import dataclasses
import uuid
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request

from rules import contact
from rules.model import Verdict
from rules.record.events import from_verdict
from rules.vocabulary import Outcome

from .payloads import ContactDecisionIn, ContactIn, ValidationError, read_json, validation_message
from .services import services

bp = Blueprint("contact", __name__, url_prefix="/api/v1/contact")

EVENT_IDS = uuid.UUID("0d0b7a43-7c1e-4f55-9a57-5c9f0b1f6a61")  # uuid5 namespace of contact decisions: never change
REASON_LEN = (3, 300)
NOT_PUPIL_REASONS = ["Someone else with the same name", "A member of my family"]
OUTCOME = {"cancel": Outcome.CANCELLED, "report": Outcome.CANCELLED, "not_pupil": Outcome.OVERRIDDEN}


@bp.errorhandler(ValueError)
def _bad_input(exc: ValueError):
    return jsonify(error=str(exc)), 400


@bp.errorhandler(ValidationError)
def _bad_payload(exc: ValidationError):
    return jsonify(error=validation_message(exc)), 400


def _body() -> dict:
    return read_json(request.get_data(cache=True), request.is_json)


@bp.post("/check")
def check():
    """Whether the person this action is towards has a pupil's name; remembered for an hour for the answer."""
    given = ContactIn.model_validate(_body())
    url = given.url or ""
    s = services()
    verdict = s.engine.evaluate(contact.submission(url, contact.Contact(given.action, given.name)))
    mine = Verdict(decision=verdict.decision if verdict.findings else "allow",
                   findings=[f for f in verdict.findings if f.rule == contact.RULE], errors=verdict.errors)
    if not mine.findings:
        mine.decision = "allow"
    check_id = str(uuid.uuid4())
    s.broker.checks.put(check_id, {"url": url, "verdict": mine, "contact": True})
    return jsonify(check_id=check_id, **mine.to_dict(), reasons=NOT_PUPIL_REASONS)


def _reason(value: str | None, required: bool) -> str:
    text = " ".join((value or "").split())
    if not text:
        if required:
            raise ValueError("'Not a pupil' needs a reason (3 to 300 characters)")
        return ""
    if not REASON_LEN[0] <= len(text) <= REASON_LEN[1]:
        raise ValueError("reason must be 3 to 300 characters")
    return text


def _site(url: str) -> str:
    """The page's site only: a profile's path names the person (often a pupil), which the record must not keep."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.netloc}/" if parts.scheme in ("http", "https") and parts.netloc else ""


@bp.post("/decision")
def decision():
    given = ContactDecisionIn.model_validate(_body())
    reason = _reason(given.reason, required=given.choice == "not_pupil")
    s = services()
    entry = s.broker.checks.get(given.check_id)
    if entry is None or not entry.get("contact"):
        return jsonify(error="this contact check is unknown or more than an hour old: check again"), 404
    first = s.broker.checks.claim(given.check_id, "choice", given.choice)
    if first != given.choice:
        return jsonify(error=f"this check was already answered with {first!r}"), 409
    verdict: Verdict = entry["verdict"]
    if given.choice == "report":
        reason = f"Reported to the DSL: {reason}" if reason else "Reported to the DSL"
        verdict = dataclasses.replace(verdict, findings=[
            dataclasses.replace(f, evidence={**f.evidence, "reported_to_dsl": True}) for f in verdict.findings])
    elif given.choice == "not_pupil":
        reason = f"Not a pupil: {reason}"
    key = given.idempotency_key or request.headers.get("Idempotency-Key", "")[:100]
    events = from_verdict(verdict, url=_site(given.url or entry["url"]), user=s.user, device=s.device,
                          source="extension",
                          decision=OUTCOME[given.choice], reason=reason)
    for i, event in enumerate(events):  # a retry makes the same ids, and the store keeps each id once
        event.id = str(uuid.uuid5(EVENT_IDS, f"{given.check_id}:{key}:{event.rule}:{i}"))
    return jsonify(ok=True, decision=str(OUTCOME[given.choice]), reported=given.choice == "report",
                   event_ids=s.store.append(events))
