"""The trust server's device API: a laptop enrols with its school's secret, then sends its record in signed batches.

    POST /device/v1/enrol   {"secret", "name", "public_key", "verify": {"start", "key"}, "ca_key"?}
                                                                           -> 201 {"device", "school", "ca"?}
    POST /device/v1/events  signed batch (below)                           -> 200 {"acked", "problems"}
    POST /device/v1/ca      signed {"ca_key", "sent_at"} (CA_PREFIX)       -> 200 {"ca"}: a renewed intermediate

Enrolment exchanges the school's secret, once, for a device id (osquery's node key, Fleet's per-team secret): the
laptop keeps its Ed25519 private key and gives the server its public key and its record's verification key (the
first sealing key, rules/record/seal.py), so the server can check every event the laptop sends was sealed there and
not rewritten since. A batch is signed: X-PostGuard-Device names the device, X-PostGuard-Signature is the Ed25519
signature (hex) of SIGNED_PREFIX + device id + "\n" + the body. Storing is idempotent by (device, seq), and the
answer is the highest contiguous sequence number held, which is all the laptop marks as sent.

One CA per trust (local_service/trust_ca.py): with `ca_key`, the public key of a key pair the laptop made for its
proxy, the server answers `"ca": {"certificate", "root", "scope"}`, an intermediate for that key signed by the trust's
root and name-constrained to the server's own scope (its pack's hosts), whatever the laptop would like; a server with
no root answers without "ca" and the laptop keeps its own CA. /device/v1/ca renews it: signed with the device's key
like a batch (its own prefix, so a batch signature is not a renewal's), refused to a revoked device.
"""
from __future__ import annotations

import logging
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

from . import trust_ca
from .forwarder import CA_PREFIX, MAX_EVENTS, SIGNED_PREFIX
from .payloads import BadJSON, read_json, validation_message
from .services import services

bp = Blueprint("trust", __name__, url_prefix="/device/v1")
log = logging.getLogger("postguard.trust")

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$", strict=True)]
Text = Annotated[str, StringConstraints(max_length=MAX_MESSAGE, strict=True)]
Short = Annotated[str, StringConstraints(max_length=300, strict=True)]
Seq = Annotated[int, Field(strict=True, ge=1, le=2**62)]
KeyPem = Annotated[str, StringConstraints(min_length=1, max_length=trust_ca.MAX_KEY_PEM, strict=True)]


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
    ca_key: KeyPem | None = None  # the public key of the laptop's proxy CA: an intermediate is issued for it


class Renew(_Strict):
    ca_key: KeyPem
    sent_at: datetime = Field(strict=False)


class WireEvent(_Strict):
    seq: Seq
    id: uuid.UUID = Field(strict=False)
    time: datetime = Field(strict=False)
    rule: Annotated[str, StringConstraints(min_length=1, max_length=80, strict=True)]
    severity: Annotated[str, StringConstraints(max_length=10, strict=True)]
    decision: Annotated[str, StringConstraints(max_length=20, strict=True)]
    user: Short = ""
    email: Annotated[str, StringConstraints(max_length=254, strict=True)] = ""
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
    try:
        ca_key = trust_ca.load_public_key(body.ca_key) if body.ca_key is not None else None
    except ValueError as exc:
        return _error(400, str(exc))
    school = svc.store.school_for_secret(body.secret)
    if school is None:
        return _error(403, "this enrolment secret is not valid (it may have been rotated): ask the trust's admin "
                           "for the school's current one")
    device_id = str(uuid.uuid4())
    svc.store.device_enrol(device_id, school, body.name, body.public_key,
                           sealing.Start(body.verify.start, bytes.fromhex(body.verify.key)))
    answer = {"device": device_id, "school": school}
    if ca_key is not None:
        issued = _issue(svc, ca_key, device_id)
        if issued:
            answer["ca"] = issued
    return jsonify(answer), 201


@bp.post("/ca")
def renew():
    """A new intermediate for an enrolled, not revoked device, for the key it sends (signed like a batch)."""
    svc = services()
    device_id = request.headers.get("X-PostGuard-Device", "")
    raw = request.get_data()
    device = svc.store.device(device_id) if _uuid(device_id) else None  # read afresh: revocation counts at once
    if device is None:
        return _error(401, "this device is not enrolled here: enrol it again", enrol=True)
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(device["public_key"])).verify(
            bytes.fromhex(request.headers.get("X-PostGuard-Signature", "")),
            CA_PREFIX + device_id.encode() + b"\n" + raw)
    except (InvalidSignature, ValueError):
        return _error(401, "the request is not signed by this device's key")
    if device["revoked"]:
        log.warning("refused a certificate to revoked device %s (%s)", device_id, device["name"])
        return _error(403, "this device is revoked: it gets no certificate")
    try:
        body = Renew.model_validate(read_json(raw, request.is_json))
        ca_key = trust_ca.load_public_key(body.ca_key)
    except BadJSON as exc:
        return _error(400, str(exc))
    except ValidationError as exc:
        return _error(400, validation_message(exc))
    except ValueError as exc:
        return _error(400, str(exc))
    issued = _issue(svc, ca_key, device_id)
    if issued is None:
        return _error(404, "this server holds no trust CA (postguard server init makes one): keep your own")
    return jsonify({"ca": issued})


def _issue(svc, public_key, device_id: str) -> dict | None:
    """An intermediate for `public_key`, constrained to this server's scope: the hosts of its own pack (the
    platform registry plus the pack's changes), never hosts a laptop names. None when the server has no root."""
    root = trust_ca.load_root(svc.config.data_dir)
    if root is None:
        return None
    hosts = svc.engine.pack.hosts
    cert = trust_ca.issue_intermediate(root[0], root[1], public_key, hosts, device=device_id)
    info = trust_ca.describe(cert)
    log.info("issued device %s an intermediate, serial %s, %d hosts, until %s", device_id, info["serial"],
             info["scope"], info["expires"].isoformat())
    return {"certificate": cert.decode(), "root": root[1].decode(), "scope": info["scope"]}


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
