"""Forward-secure sealing of the record (Schneier and Kelsey, 1998; systemd's Forward Secure Sealing is the same idea).

Each chain (the events, the audit log) has a sealing key that moves one step forward after every row it seals:
k[s+1] = SHA-256("postguard seal evolve" || k[s]), and the row with sequence number s carries
seal = HMAC-SHA-256(k[s], "s:hash:header"). Only the key for the next row is kept; the older ones are overwritten in
the same transaction that stores the row. So whoever takes the laptop later (the staff account, or root) holds only
the current key: they can add rows after it, but cannot re-seal an earlier row, remove one, or roll the key back to
before the newest rows. The verifier holds the first key, k[start], which leaves the laptop at set-up: in the
verification key file, which belongs to whoever set the record up (a service account, IT) and, once the laptop is
enrolled, at the trust server. From it every later key follows, and each row is checked against the key of its own
sequence number (systemd's CVE-2023-31439 was a verifier that did not).

An anchor is the chain head written outside the database (a file IT can place where the staff account cannot write,
and the trust server): `seq hash seal` lines, each sealed with the key that followed that head. A store restored from
an older copy is internally consistent, so only an anchor shows that it once reached further.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

CHAINS = ("events", "audit")
_EVOLVE = b"postguard seal evolve\x00"


def new_key() -> bytes:
    return secrets.token_bytes(32)


def evolve(key: bytes, steps: int = 1) -> bytes:
    for _ in range(steps):
        key = hashlib.sha256(_EVOLVE + key).digest()
    return key


def seal(key: bytes, seq: int, row_hash: str, header: str) -> str:
    """The seal of row `seq`: binds its sequence number, its place in the hash chain and the fields purging keeps."""
    return hmac.new(key, f"{seq}:{row_hash}:{header}".encode(), hashlib.sha256).hexdigest()


def anchor_seal(key: bytes, seq: int, row_hash: str) -> str:
    return hmac.new(key, f"anchor:{seq}:{row_hash}".encode(), hashlib.sha256).hexdigest()


def equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Start:
    """Where a chain's sealing began: the first sequence number sealed and the key for it."""
    seq: int
    key: bytes

    def key_for(self, seq: int) -> bytes:
        if seq < self.seq:
            raise ValueError(f"sequence number {seq} is before sealing began ({self.seq})")
        return evolve(self.key, seq - self.seq)


class VerifyKeyError(ValueError):
    pass


def read_verify_key(path: Path) -> dict[str, Start]:
    """The verification key file: {"version": 1, "chains": {"events": {"start": N, "key": hex}, ...}}."""
    try:
        data = json.loads(Path(path).read_text())
        return {name: Start(int(v["start"]), bytes.fromhex(v["key"])) for name, v in data["chains"].items()
                if name in CHAINS}
    except FileNotFoundError:
        raise VerifyKeyError(f"{path}: no verification key there") from None
    except PermissionError:
        raise VerifyKeyError(f"{path}: not readable by this account") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise VerifyKeyError(f"{path}: not a PostGuard verification key ({e})") from None


def dump_verify_key(starts: dict[str, Start]) -> str:
    return json.dumps({"version": 1, "chains": {n: {"start": s.seq, "key": s.key.hex()} for n, s in starts.items()}},
                      indent=1) + "\n"


def record_start(path: Path | None, name: str, start: Start) -> str:
    """Add chain `name`'s first key to the verification key file, unless the file already names one for it: a
    store that was replaced must not get to replace the key it will be checked against. Returns what happened, in
    words, for the service's log."""
    if path is None:
        return "no verification key file configured"
    path = Path(path)
    try:
        starts = read_verify_key(path) if path.exists() else {}
    except VerifyKeyError as e:
        return f"verification key not written: {e}"
    except OSError as e:  # a folder this account may not enter: the key stays with whoever set the record up
        return f"verification key not written to {path}: {e.strerror or e}"
    if name in starts:
        return (f"{path} already holds a key for the {name} chain: this store's new chain will not verify against "
                "it (was the database replaced?)")
    starts[name] = start
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(dump_verify_key(starts))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        return f"verification key not written to {path}: {e.strerror or e}"
    return f"verification key for the {name} chain written to {path}"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    seal: str
    line: int


def append_anchor(path: Path, seq: int, row_hash: str, next_key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{seq} {row_hash} {anchor_seal(next_key, seq, row_hash)}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_anchors(path: Path) -> tuple[list[Anchor], list[int]]:
    """The anchors in `path`, and the line numbers that are not anchors at all."""
    anchors, bad = [], []
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return [], []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit() and len(parts[1]) == 64 and len(parts[2]) == 64:
            anchors.append(Anchor(int(parts[0]), parts[1], parts[2], n))
        elif line.strip():
            bad.append(n)
    return anchors, bad
