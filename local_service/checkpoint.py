"""The trust server's signed checkpoint: every device's chain head, signed, to be kept by someone outside the server.

A checkpoint is a signed note in the style of C2SP's tlog-checkpoint (the format transparency logs use): a text body,
a blank line, and a signature line `— <key name> <base64(key id || Ed25519 signature)>`, where the key id is the
first four bytes of SHA-256(key name || "\\n" || 0x01 || public key), as in C2SP's signed-note. The body says:

    postguard checkpoint <server name>
    <time, UTC, ISO 8601>
    <number of devices>
    <device id> <held sequence number> <hash of that event> <school> / <device name>
    ...

The DPO receives it by e-mail every day ([server] checkpoint_to). Later, `postguard server checkpoint --check FILE`
holds the server's database to what it said then: each device must still hold that event with that hash, so a
database rewritten on the server itself (not only on a laptop) shows too.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rules import Config
from rules.record.store import Store
from rules.schema import write_private

from .alerts import Mailer

KEY_FILE = "checkpoint_key"
LAST, LAST_AT = "checkpoint.last", "checkpoint.at"  # settings: the newest checkpoint and when it was made
SIGNATURE_MARK = "\u2014 "  # an em dash and a space begin a signature line


def _key(config: Config) -> Ed25519PrivateKey:
    path = config.data_dir / KEY_FILE
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        write_private(path, key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption()).hex() + "\n")
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text().strip()))


def public_key(config: Config) -> bytes:
    return _key(config).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]


def make(config: Config, store: Store, name: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    devices = store.devices()
    lines = [f"postguard checkpoint {name}", now.astimezone(timezone.utc).isoformat(timespec="seconds"),
             str(len(devices))]
    for d in devices:
        held = d["next_seq"] - 1
        lines.append(f"{d['id']} {held} {store.origin_hash(d['id'], held) or '0' * 64} {d['school']} / {d['name']}")
    body = "\n".join(lines) + "\n"
    key = _key(config)
    signature = key.sign(body.encode())
    return body + "\n" + SIGNATURE_MARK + f"{name} " + base64.b64encode(
        key_id(name, public_key(config)) + signature).decode() + "\n"


@dataclass
class Checked:
    signed: bool
    problems: list[str]


def check(text: str, public: bytes, store: Store | None = None) -> Checked:
    """Is the note signed by `public`, and (with `store`) does the database still hold every head it names?"""
    body, _, signatures = text.partition("\n\n")
    body += "\n"
    signed = False
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_MARK):
            continue
        try:
            name, blob = line[len(SIGNATURE_MARK):].rsplit(" ", 1)
            raw = base64.b64decode(blob, validate=True)
            if raw[:4] == key_id(name, public):
                Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], body.encode())
                signed = True
        except (ValueError, InvalidSignature):
            continue
    problems = []
    if store is not None and signed:
        for line in body.splitlines()[3:]:
            parts = line.split(" ", 3)
            if len(parts) < 4 or not parts[1].isdigit():
                problems.append(f"not a device line: {line[:80]}")
                continue
            device, held, digest, label = parts
            if int(held) and store.origin_hash(device, int(held)) != digest:
                problems.append(f"{label}: event {held} is not the one this checkpoint saw: the server's copy of "
                                "the record was changed or removed since")
    return Checked(signed, problems)


def keep(store: Store, text: str, when: datetime | None = None) -> None:
    store.set_setting(LAST, {"text": text})
    store.set_setting(LAST_AT, (when or datetime.now(timezone.utc)).isoformat())


def send(store: Store, config: Config, text: str, to: str) -> None:
    mailer = Mailer(store, config.service)
    mailer.send(mailer.message(to, f"PostGuard checkpoint {config.server.name}", text +
                               "\nKeep this message: it is what the trust's PostGuard record held today, signed by "
                               "its server. 'postguard server checkpoint --check FILE' compares it with the record "
                               "later.\n"))
