"""Sign-ins held with a way on: a sign-in the pack says to *warn* about is answered with a page that explains and lets
the person continue, with a reason, never a refusal (a *block* is still refused).

The sign-in is a GET the proxy cannot hold open while someone reads, so the page carries a one-time token: its form
posts the token and the reason to CONTINUE_PATH on the same host (the proxy answers it, the site never sees it);
the proxy records the answer and sends the browser back to the sign-in, which then goes through once. No mitmproxy
here: plain state, tested alone.
"""
from __future__ import annotations

import secrets
import time
from typing import Any, NamedTuple

CONTINUE_PATH = "/.well-known/postguard/continue-sign-in"
TTL_S = 600.0  # how long a held sign-in can be continued, and how long a continued one waits to go through
MAX_HELD = 256
MIN_REASON, MAX_REASON = 3, 300


class Held(NamedTuple):
    url: str
    verdict: Any
    expires: float


def reason_of(form: dict) -> str:
    """The person's reason: a listed one, or their own words; "" when there is none fit to record."""
    text = " ".join(str(form.get("other") or form.get("reason") or "").split())
    return text if MIN_REASON <= len(text) <= MAX_REASON else ""


class SignIns:
    def __init__(self, clock=time.monotonic):
        self._held: dict[str, Held] = {}
        self._passes: dict[str, float] = {}  # url -> until when it goes through once
        self._clock = clock

    def hold(self, url: str, verdict) -> str:
        """A token for the page: the sign-in it held and why."""
        self._expire()
        if len(self._held) >= MAX_HELD:  # oldest first: a flood of sign-ins forgets the oldest, never grows
            self._held.pop(next(iter(self._held)))
        token = secrets.token_urlsafe(18)
        self._held[token] = Held(url, verdict, self._clock() + TTL_S)
        return token

    def held(self, token: str) -> Held | None:
        self._expire()
        return self._held.get(token) if isinstance(token, str) else None

    def answer(self, token: str) -> Held | None:
        """The person chose to continue: the sign-in goes through once (the next GET of its URL)."""
        held = self._held.pop(token, None) if self.held(token) else None
        if held is not None:
            self._passes[held.url] = self._clock() + TTL_S
        return held

    def passes(self, url: str) -> bool:
        """Whether this sign-in was continued: true once."""
        self._expire()
        return self._passes.pop(url, None) is not None

    def _expire(self) -> None:
        now = self._clock()
        for table in (self._held, self._passes):
            for key in [k for k, v in table.items() if (v.expires if isinstance(v, Held) else v) < now]:
                del table[key]
