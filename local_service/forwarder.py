"""The laptop's side of the trust server: enrolment, and forwarding the record from its outbox.

The laptop's store is the outbox: every event has a contiguous sequence number (rules/record/store.py), and the
setting `forward.acked` is the highest one the server has acknowledged. A forward sends what follows it in batches of
at most 500 events, each signed with the device's Ed25519 key, and moves `forward.acked` only to what the server
answers: at least once, never marked sent before the server holds it; the server stores idempotently by (device,
seq), so a lost answer means a harmless resend. Failures wait with full-jitter exponential backoff (tenacity's
wait_random_exponential: a random wait up to min(cap, 5 s x 2^n)). When more than [forward] max_backlog events wait,
the oldest are given up and an event records how many; the batches then declare the gap, so the server tells it
from a deletion.

The proxy's CA (one CA per trust, local_service/trust_ca.py): enrolment sends the public key of a key pair made here
for the proxy, and writes the intermediate the server answers into the laptop's trust CA folder; while `postguard
run` runs, the forwarding thread renews it when trust_ca.needs_renewal says so (a new key each time, the request
signed with the device key) and tells the proxy (`on_ca`) to sign with it from the next connection on. When the
intermediate the proxy signs with expires and renewal keeps failing, it tells the proxy to sign with the laptop's own
CA instead (`own_ca`, what `postguard run` starts with when the intermediate on disk has expired), and records once
per expired intermediate that it did (rule ca.fallback): browsers that trust only the trust's root refuse in-scope
sites until the next renewal succeeds, and the reviewers should know why.
"""
from __future__ import annotations

import json
import logging
from importlib import metadata
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from rules import Config
from rules.record import seal as sealing
from rules.record.events import Event
from rules.record.store import Store, verify_key_path
from rules.schema import write_private

from . import trust_ca

log = logging.getLogger("postguard.forward")
try:
    VERSION = metadata.version("postguard")
except metadata.PackageNotFoundError:  # run from a source folder that was never installed
    VERSION = "0+unknown"
KEY_FILE = "device_key"
SIGNED_PREFIX = b"postguard-batch-v1\n"  # what a batch's signature covers: this, the device id, "\n", the body
CA_PREFIX = b"postguard-ca-v1\n"  # a renewal request's, the same way: a batch's signature cannot be replayed as one
CA_RETRY_S = 3600.0  # after a renewal the server refused or could not answer, ask again this much later
MAX_EVENTS = 500  # events a batch
WAKE_DELAY_S = 2.0
ENROLMENT, ACKED, DROPPED = "forward.enrolment", "forward.acked", "forward.dropped"
CA_FALLBACK = "forward.ca_fallback"  # the fingerprint of the expired intermediate the record said the proxy left


def key_file(config: Config) -> Path:
    """The device's Ed25519 private key (hex), readable by its owner only."""
    return config.data_dir / KEY_FILE


class ForwardError(Exception):
    """The server answered, and the answer means retrying will not help (not enrolled, revoked, refused)."""


class Unreachable(Exception):
    """No answer, or one that may be different next time (a 5xx): retried with backoff."""


@dataclass
class Enrolment:
    server: str
    device: str
    school: str
    name: str


def enrolment(store: Store) -> Enrolment | None:
    value = store.get_setting(ENROLMENT)
    return Enrolment(**value) if isinstance(value, dict) else None


def _post(config: Config, url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    context = ssl.create_default_context(cafile=config.forward.ca_file or None) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=config.forward.timeout_s, context=context) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            answer = json.loads(e.read() or b"{}")
        except ValueError:
            answer = {}
        if e.code >= 500 or e.code == 429:
            raise Unreachable(f"{url}: HTTP {e.code}") from None
        return e.code, answer if isinstance(answer, dict) else {}
    except (urllib.error.URLError, OSError, ValueError) as e:  # refused, reset, timed out, cut off mid-answer
        raise Unreachable(f"{url}: {getattr(e, 'reason', e)}") from None


def enrol(config: Config, store: Store, url: str, secret: str, name: str, post=_post) -> Enrolment:
    """Exchange the school's secret, once, for a device id: a new key pair, and the record's verification key."""
    try:
        starts = sealing.read_verify_key(verify_key_path(config))
    except sealing.VerifyKeyError as e:
        raise ForwardError(f"the record's verification key is needed to enrol ({e}): run this as the account that "
                           "set PostGuard up") from None
    if "events" not in starts:
        raise ForwardError(f"{verify_key_path(config)} holds no key for the events chain")
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    ca_key_pem, ca_public = trust_ca.laptop_key()  # the proxy's: its private half never leaves this laptop
    body = json.dumps({"secret": secret, "name": name, "public_key": public,
                       "verify": {"start": starts["events"].seq, "key": starts["events"].key.hex()},
                       "ca_key": trust_ca.public_key_pem(ca_public)}).encode()
    status, answer = post(config, url.rstrip("/") + "/device/v1/enrol", body)
    if status != 201:
        raise ForwardError(answer.get("error") or f"the server answered HTTP {status}")
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption()).hex()
    write_private(key_file(config), private + "\n")
    result = Enrolment(server=url.rstrip("/"), device=answer["device"], school=answer["school"], name=name)
    store.set_setting(ENROLMENT, result.__dict__)
    store.set_setting(ACKED, 0)
    try:
        _keep_ca(config, ca_key_pem, answer.get("ca"))
    except ForwardError as e:  # enrolled all the same: the forwarding thread asks for a certificate again
        log.warning("%s", e)
    return result


def _keep_ca(config: Config, key_pem: bytes, ca) -> Path | None:
    """Write the intermediate the server answered (with the key it is for) as the proxy's CA; None when the server
    issued none (it holds no root: the laptop keeps its own CA)."""
    if not isinstance(ca, dict) or not ca.get("certificate") or not ca.get("root"):
        return None
    try:
        return trust_ca.write_laptop_ca(config.data_dir, key_pem, ca["certificate"].encode(), ca["root"].encode())
    except (ValueError, TypeError, AttributeError) as e:
        raise ForwardError(f"the server's certificate cannot be used: {e}") from None


class Forwarder:
    def __init__(self, config: Config, store: Store, health=None, post=_post, on_ca=None, own_ca: Path | None = None):
        """`post(config, url, body, headers) -> (status, answer)`: urllib by default. `on_ca(folder)`: the proxy
        signs with the CA in that folder from now on (postguard run's proxy; None: nothing to tell). `own_ca`: the
        folder of the laptop's own CA, what the proxy signs with when its intermediate has expired."""
        self.config, self.store, self.post = config, store, post
        self.health = health or (lambda: {})
        self.on_ca, self.own_ca = on_ca, own_ca
        self.ca_loaded: str | None = None  # the fingerprint of the intermediate the proxy was last told about
        self._ca_next_try = 0.0
        self.wake = threading.Event()  # set when new events are stored: forward at the next chance

    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key_file(self.config).read_text().strip()))

    def backlog(self) -> int:
        return max(0, self.store.head()[0] - int(self.store.get_setting(ACKED, 0)))

    def _drop_oldest(self, acked: int, head: int) -> None:
        """More waiting than the outbox holds: give up the oldest, and record how many in the record itself."""
        over = head - acked - self.config.forward.max_backlog
        if over <= 0:
            return
        first, last = acked + 1, acked + over
        previous = self.store.get_setting(DROPPED)
        if previous:
            first = min(first, previous[0])
        self.store.set_setting(DROPPED, [first, last])
        self.store.append(Event(rule="outbox.dropped", decision="recorded", severity="medium", source="service",
                                message=f"The outbox was full: events {first} to {last} were not forwarded.",
                                evidence={"first": first, "last": last, "events": last - first + 1}))
        log.warning("outbox full: events %s to %s given up", first, last)

    def send_batch(self) -> tuple[int, int]:
        """One signed batch; (acknowledged, head). Raises Unreachable (retry) or ForwardError (do not)."""
        enrolled = enrolment(self.store)
        if enrolled is None:
            raise ForwardError("this laptop is not enrolled: postguard enrol URL --secret SECRET")
        acked = int(self.store.get_setting(ACKED, 0))
        self._drop_oldest(acked, self.store.head()[0])
        head = self.store.head_proof()
        head_seq = head["seq"]
        dropped = self.store.get_setting(DROPPED)
        after = max(acked, dropped[1]) if dropped else acked  # past what the full outbox gave up
        rows = self.store.outbox(after, MAX_EVENTS)
        body = {"sent_at": datetime.now(timezone.utc).isoformat(), "head": head,
                "health": {"version": VERSION, "backlog": head_seq - acked, **self.health()}, "events": rows}
        if dropped and dropped[1] > acked:
            body["dropped"] = {"first": dropped[0], "last": dropped[1]}
        raw = json.dumps(body, ensure_ascii=False).encode()
        signature = self._key().sign(SIGNED_PREFIX + enrolled.device.encode() + b"\n" + raw).hex()
        status, answer = self.post(self.config, enrolled.server + "/device/v1/events", raw,
                                   {"X-PostGuard-Device": enrolled.device, "X-PostGuard-Signature": signature})
        if status != 200:
            raise ForwardError(answer.get("error") or f"the server answered HTTP {status}")
        new = int(answer.get("acked", acked))
        if new > acked:
            self.store.set_setting(ACKED, new)
            if dropped and new >= dropped[1]:
                self.store.set_setting(DROPPED, None)
        for problem in answer.get("problems", []):
            log.warning("the server reports: %s", problem)
        return new, head_seq

    def forward_all(self, within_s: float) -> bool:
        """Send until the server holds everything there is, retrying with backoff for up to `within_s` seconds;
        True when it does."""
        retrying = Retrying(wait=wait_random_exponential(multiplier=5, max=self.config.forward.retry_cap_s),
                            stop=stop_after_delay(within_s), retry=retry_if_exception_type(Unreachable),
                            reraise=True)
        before = -1
        while True:
            try:
                acked, head = retrying(self.send_batch)
            except (Unreachable, RetryError) as e:
                log.warning("the server cannot be reached: %s", e)
                return False
            if acked >= head:
                return True
            if acked <= before:  # the server holds no more than last time: do not send the same batch forever
                return False
            before = acked

    def renew_ca(self) -> Path:
        """A new intermediate for a new key, asked with the device's signature. Raises Unreachable or ForwardError
        (revoked, not enrolled, the server holds no root)."""
        enrolled = enrolment(self.store)
        if enrolled is None:
            raise ForwardError("this laptop is not enrolled: postguard enrol URL --secret SECRET")
        key_pem, public = trust_ca.laptop_key()
        raw = json.dumps({"ca_key": trust_ca.public_key_pem(public),
                          "sent_at": datetime.now(timezone.utc).isoformat()}).encode()
        signature = self._key().sign(CA_PREFIX + enrolled.device.encode() + b"\n" + raw).hex()
        status, answer = self.post(self.config, enrolled.server + "/device/v1/ca", raw,
                                   {"X-PostGuard-Device": enrolled.device, "X-PostGuard-Signature": signature})
        if status != 200:
            raise ForwardError(answer.get("error") or f"the server answered HTTP {status}")
        folder = _keep_ca(self.config, key_pem, answer.get("ca"))
        if folder is None:
            raise ForwardError("the server answered no certificate")
        return folder

    def ca_due(self) -> bool:
        """Enrolled, and the proxy's intermediate is missing or near its end (trust_ca.needs_renewal)."""
        if enrolment(self.store) is None:
            return False
        cert = trust_ca.laptop_intermediate(self.config.data_dir)
        return cert is None or trust_ca.needs_renewal(cert)

    def keep_ca(self) -> None:
        """Renew the intermediate when it is due (at most once an hour after a refusal), and tell the proxy when the
        intermediate on disk is not the one it signs with (renewed here, or by `postguard enrol`)."""
        if self.ca_due() and time.monotonic() >= self._ca_next_try:
            try:
                self.renew_ca()
                log.info("the proxy's intermediate certificate was renewed")
            except (ForwardError, Unreachable) as e:
                self._ca_next_try = time.monotonic() + CA_RETRY_S
                log.warning("the proxy's certificate was not renewed: %s", e)
        folder = trust_ca.laptop_ca(self.config.data_dir)
        if folder is None:
            self._fall_back()
            return
        if self.on_ca is None:
            return
        current = trust_ca.describe(trust_ca.laptop_intermediate(self.config.data_dir))["fingerprint"]
        if current != self.ca_loaded:
            self.on_ca(folder)
            self.ca_loaded = current

    def _fall_back(self) -> None:
        """The intermediate on disk has expired (or there is none): the proxy, if it still signs with one, signs
        with the laptop's own CA from the next connection on; and the record says so once per expired intermediate
        (also when `postguard run` started on its own CA for that reason, or `forward --once` found it)."""
        cert = trust_ca.laptop_intermediate(self.config.data_dir)
        if self.ca_loaded is not None and self.on_ca is not None and self.own_ca is not None:
            self.on_ca(self.own_ca)  # raises when the own CA cannot be read: the proxy signs as before, retried
            self.ca_loaded = None
            log.warning("the proxy's intermediate has expired: the proxy signs with this laptop's own CA")
        if cert is None:
            return  # never issued one (no server, or a server without a root): nothing was left
        info = trust_ca.describe(cert)
        if self.store.get_setting(CA_FALLBACK) == info["fingerprint"]:
            return
        self.store.append(Event(
            rule="ca.fallback", decision="recorded", severity="medium", source="service",
            message=f"The proxy's certificate from the trust server (serial {info['serial']}) expired on "
                    f"{info['expires']:%Y-%m-%d %H:%M} UTC and was not renewed: the proxy signs with this laptop's "
                    "own CA until the trust server renews it, so browsers that trust only the trust's root refuse "
                    "the sites PostGuard inspects.",
            evidence={"serial": info["serial"], "expired": info["expires"].isoformat(), "issuer": info["issuer"]}))
        self.store.set_setting(CA_FALLBACK, info["fingerprint"])

    def _wait_s(self) -> float:
        """Until the next round: [forward] interval_s, or less when the intermediate the proxy signs with ends
        sooner (so the proxy leaves it within a second of its end, unless a forward is still retrying then)."""
        wait = float(self.config.forward.interval_s)
        cert = trust_ca.laptop_intermediate(self.config.data_dir) if self.ca_loaded is not None else None
        if cert is not None:
            left = (trust_ca.describe(cert)["expires"] - datetime.now(timezone.utc)).total_seconds()
            if left > 0:  # past its end and still loaded: the proxy could not be told, ask again in an interval
                wait = min(wait, left + 0.5)
        return wait

    def run(self, stopping: threading.Event) -> None:
        """postguard run's forwarding thread: every [forward] interval_s, or sooner after new events (a few seconds
        later, so that a burst goes in one batch)."""
        while not stopping.is_set():
            try:
                self.keep_ca()
            except Exception:
                log.exception("the proxy's certificate could not be renewed or loaded")
            if enrolment(self.store) is not None and self.backlog():
                try:
                    self.forward_all(within_s=self.config.forward.interval_s)
                except ForwardError as e:
                    log.error("forwarding stopped: %s", e)
                except Exception:
                    log.exception("forwarding failed")
            if self.wake.wait(self._wait_s()):
                stopping.wait(WAKE_DELAY_S)
            self.wake.clear()
