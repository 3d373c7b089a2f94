"""Holding a post until its person decides: the one protocol the proxy addon talks to.

Two implementations: the local service's in-process `Broker` (under `postguard run`, where the proxy and the service
share a process) and the proxy's `ServiceClient` (a standalone `mitmdump -s`, which asks the service over HTTP). The
addon only ever sees a `Holder`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from ..vocabulary import Choice

HEARTBEAT_S = 20  # how often a running proxy tells the service it is alive
PROXY_FRESH_S = 60  # the service calls the proxy active if it was heard from this recently


@dataclass(frozen=True)
class Answer:
    """What the person chose for a held post, and why (the reason is required for "post anyway")."""

    choice: Choice
    reason: str = ""

    def __post_init__(self):
        object.__setattr__(self, "choice", Choice(self.choice))  # ValueError names a choice that is not one

    def to_dict(self) -> dict:
        return {"choice": str(self.choice), "reason": self.reason}


class Held(Protocol):
    """A post on hold."""

    def wait(self, timeout: float) -> Answer | None:
        """Block until the person answers or `timeout` seconds pass; None when nobody answered."""


class Holder(Protocol):
    """Where the proxy holds a post for its person's decision, and tells them things."""

    def hold(self, summary: dict, timeout_s: float) -> Held:
        """Put a post on hold; `summary` is `Verdict.to_dict()` plus its url and method. Raises when it cannot."""

    def answer_for(self, fingerprints: list[str]) -> Answer | None:
        """The answer the person already gave in the page for exactly these files (see `fingerprint`), if known."""

    def notify(self, notice: dict) -> None:
        """A one-off notice for the person, e.g. the location removed from a photo on its way out."""

    def heartbeat(self) -> None:
        """The proxy is running (called every HEARTBEAT_S seconds), so the extension can say protection is on."""


def fingerprint(data: bytes) -> str:
    """A file's identity for "already answered": the proxy sees the same bytes the extension checked."""
    return hashlib.sha256(data).hexdigest()
