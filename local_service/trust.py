"""The trust server's device API: a laptop enrols with its school's secret, then sends its record in signed batches.

    POST /device/v1/enrol   {"secret", "name", "public_key", "verify": {"start", "key"}}  -> 201 {"device", "school"}
    POST /device/v1/events  signed batch (below)                                          -> 200 {"acked", "problems"}

Enrolment exchanges the school's secret, once, for a device id (osquery's node key, Fleet's per-team secret): the
laptop keeps its Ed25519 private key and gives the server its public key and its record's verification key (the
first sealing key, rules/record/seal.py), so the server can check every event the laptop sends was sealed there and
not rewritten since. A batch is signed: X-PostGuard-Device names the device, X-PostGuard-Signature is the Ed25519
signature (hex) of SIGNED_PREFIX + device id + "\n" + the body. Storing is idempotent by (device, seq), and the
answer is the highest contiguous sequence number held, which is all the laptop marks as sent.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from rules.record import seal as sealing
from rules.record.events import MAX_MESSAGE, MAX_REASON
from rules.vocabulary import OUTCOMES, SEVERITIES

from .forwarder import MAX_EVENTS, SIGNED_PREFIX
from .payloads import BadJSON, read_json, validation_message
from .services import services

bp = Blueprint("trust", __name__, url_prefix="/device/v1")

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$", strict=True)]
Text = Annotated[str, StringConstraints(max_length=MAX_MESSAGE, strict=True)]
Short = Annotated[str, StringConstraints(max_length=300, strict=True)]
Seq = Annotated[int, Field(strict=True, ge=1, le=2**62)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class VerifyKey(_Strict):
    start: Seq
    key: Hex64


class Enrol(_Strict):
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200, strict=True)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=120, strict=True)]
    public_key: Hex64
    verify: VerifyKey


class WireEvent(_Strict):
    seq: Seq
    id: uuid.UUID = Field(strict=False)
    time: datetime = Field(strict=False)
    rule: Annotated[str, StringConstraints(min_length=1, max_length=80, strict=True)]
    severity: Annotated[str, StringConstraints(max_length=10, strict=True)]
    decision: Annotated[str, StringConstraints(max_length=20, strict=True)]
    user: Short = ""
    device: Short = ""
    host: Short = ""
    path: Short = ""
    source: Short = ""
    reason: Annotated[str, StringConstraints(max_length=MAX_REASON, strict=True)] = ""
    message: Text = ""
    clauses: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    evidence: dict[str, Any] = Field(default_factory=dict, max_length=100)
    purged: bool = False
    digest: Hex64
    prev_hash: Hex64
    hash: Hex64
    seal: Hex64 | None = None


class Head(_Strict):
    seq: Annotated[int, Field(strict=True, ge=0)]
    hash: Hex64
    seal: Hex64 | None = None  # the head sealed with the key for the row after it (Store.head_proof)


class Dropped(_Strict):
    first: Seq
    last: Seq


class Batch(_Strict):
    sent_at: datetime = Field(strict=False)
    head: Head
    dropped: Dropped | None = None
    health: dict[str, Any] = Field(default_factory=dict, max_length=50)
    events: list[WireEvent] = Field(max_length=MAX_EVENTS)


def _error(status: int, message: str, **extra):
    return jsonify({"error": message, **extra}), status


@bp.post("/enrol")
def enrol():
    svc = services()
    try:
        body = Enrol.model_validate(read_json(request.get_data(), request.is_json))
    except BadJSON as exc:
        return _error(400, str(exc))
    except ValidationError as exc:
        return _error(400, validation_message(exc))
    school = svc.store.school_for_secret(body.secret)
    if school is None:
        return _error(403, "this enrolment secret is not valid (it may have been rotated): ask the trust's admin "
                           "for the school's current one")
    device_id = str(uuid.uuid4())
    svc.store.device_enrol(device_id, school, body.name, body.public_key,
                           sealing.Start(body.verify.start, bytes.fromhex(body.verify.key)))
    return jsonify({"device": device_id, "school": school}), 201


@bp.post("/events")
def events():
    svc = services()
    device_id = request.headers.get("X-PostGuard-Device", "")
    raw = request.get_data()
    public_key = _public_key(svc.store, device_id) if _uuid(device_id) else None
    if public_key is None:
        return _error(401, "this device is not enrolled here: enrol it again", enrol=True)
    try:
        public_key.verify(
            bytes.fromhex(request.headers.get("X-PostGuard-Signature", "")),
            SIGNED_PREFIX + device_id.encode() + b"\n" + raw)
    except (InvalidSignature, ValueError):
        return _error(401, "the batch is not signed by this device's key")
    try:
        batch = Batch.model_validate(read_json(raw, request.is_json))
    except BadJSON as exc:
        return _error(400, str(exc))
    except ValidationError as exc:
        return _error(400, validation_message(exc))
    bad = next((e for e in batch.events if e.severity not in SEVERITIES or e.decision not in OUTCOMES), None)
    if bad is not None:
        return _error(400, f"event {bad.seq}: unknown severity or decision")
    rows = [e.model_dump() | {"id": str(e.id), "time": e.time} for e in batch.events]
    result = svc.store.ingest(device_id, rows, sent_at=batch.sent_at, head=batch.head.model_dump(),
                              dropped=(batch.dropped.first, batch.dropped.last) if batch.dropped else None,
                              health=batch.health | {"sent_at": batch.sent_at.isoformat()})
    if result.refused:
        return _error(403, result.refused, acked=result.acked)
    return jsonify({"acked": result.acked, "problems": result.problems})


KEYS_KEPT = 100_000


def _public_key(store, device_id: str) -> Ed25519PublicKey | None:
    """The device's public key, read once per worker: a device id keeps the key it enrolled with (enrolling again
    makes a new id), and revocation is checked by Store.ingest on every batch. Saves a database round trip an
    upload (bench/fleet_bench.py)."""
    keys = current_app.extensions.setdefault("postguard_device_keys", {})
    key = keys.get(device_id)
    if key is None:
        device = store.device(device_id)
        if device is None:
            return None
        if len(keys) >= KEYS_KEPT:
            keys.clear()
        key = keys[device_id] = Ed25519PublicKey.from_public_bytes(bytes.fromhex(device["public_key"]))
    return key


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False
