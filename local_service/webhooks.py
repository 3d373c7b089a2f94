"""Alert webhooks, signed as Stripe and GitHub sign theirs, and retried.

Each request carries `PostGuard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
install's webhook key, so a receiver knows the body came from PostGuard and is fresh (it refuses a timestamp more
than TOLERANCE_S away: a replayed request). `verify()` is the receiver's side, for relays written in Python and for
the tests. Failures (a refused connection, a timeout, 429 or 5xx) are retried with exponential backoff; a 4xx other
than 429 is not (the receiver refused this body: sending it again will not help).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

HEADER = "PostGuard-Signature"
TOLERANCE_S = 300
ATTEMPTS = 4
TIMEOUT_S = 10


def signature(secret: str, body: bytes, t: int) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, now: float | None = None, tolerance_s: int = TOLERANCE_S) -> bool:
    """Whether `header` signs `body` under `secret` within `tolerance_s` of `now`."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - t) > tolerance_s:
        return False
    expected = signature(secret, body, t).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, v) for k, v in (p.split("=", 1) for p in header.split(","))
               if k == "v1")


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    return isinstance(exc, OSError)  # URLError, refused, reset, timeout


class Webhook:
    def __init__(self, url: str, secret: str, attempts: int = ATTEMPTS, wait_s: float = 1.0,
                 timeout_s: float = TIMEOUT_S):
        self.url, self.secret = url, secret
        self.attempts, self.wait_s, self.timeout_s = max(1, attempts), wait_s, timeout_s

    def post(self, payload: dict, attempts: int | None = None, on_failure=None) -> None:
        """POST `payload` as JSON, signed afresh on each attempt; `on_failure(exc)` after each failed one."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        retrying = Retrying(stop=stop_after_attempt(attempts or self.attempts),
                            wait=wait_exponential(multiplier=self.wait_s, max=60),
                            retry=retry_if_exception(_retryable), reraise=True)
        for attempt in retrying:
            with attempt:
                try:
                    req = urllib.request.Request(self.url, data=body, method="POST", headers={
                        "Content-Type": "application/json", "User-Agent": "PostGuard-Alerts",
                        HEADER: signature(self.secret, body, int(time.time()))})
                    with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                        resp.read(65536)
                except Exception as exc:
                    if on_failure:
                        on_failure(exc)
                    raise
