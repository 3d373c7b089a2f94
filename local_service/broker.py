"""Where a held post waits for its person: held requests, one-off notices, and the stream the extension reads.

In memory, thread-safe, no Flask: the API's views use it, and so can the proxy addon when it runs in the same
process. A held request resolves with the person's decision or, at its deadline, with None (the caller then applies
the pack's warn_fallback). Every change is also a numbered message, so a stream client that reconnects with the last
id it saw misses nothing still in the ring.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

from rules.record.hold import Answer
from rules.vocabulary import CHOICES

KEEP_FINISHED_S = 600  # a decided or expired hold still answers a late wait for this long


class NotPending(Exception):
    """The held request already ended (timed out, or decided otherwise): a decision can no longer change it."""


class Full(Exception):
    """Too many requests held at once."""


@dataclass(frozen=True)
class Message:
    """One item of the stream: kind is pending, decided, expired or notice."""

    id: int
    kind: str
    data: dict

    def sse(self) -> str:
        return f"id: {self.id}\nevent: {self.kind}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n"


@dataclass
class Pending:
    """A request the proxy holds until its person decides."""

    id: str
    summary: dict
    timeout_s: float
    created: float  # wall clock, for people
    deadline: float  # monotonic, for waiting
    decision: Answer | None = None
    expired: bool = False
    ended_at: float | None = None  # monotonic
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _broker: "Broker | None" = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.summary.get("url", "")

    @property
    def state(self) -> str:
        return "decided" if self.decision else "expired" if self.expired else "pending"

    def wait(self, timeout: float | None = None) -> Answer | None:
        """Block until decided, expired, or `timeout` seconds pass; the decision, or None."""
        left = self.deadline - time.monotonic()
        self._done.wait(max(0.0, left if timeout is None else min(timeout, left)))
        if self._broker is not None and not self._done.is_set():
            self._broker._sweep()
        return self.decision

    def to_dict(self) -> dict:
        left = max(0.0, self.deadline - time.monotonic()) if self.state == "pending" else 0.0
        return {"pending_id": self.id, "url": self.url, "state": self.state, "summary": self.summary,
                "created": _iso(self.created), "deadline": _iso(self.created + self.timeout_s),
                "seconds_left": round(left, 1), "decision": self.decision.to_dict() if self.decision else None}


class Recent:
    """A small LRU whose entries also expire: check_id -> what the check found, for the decision that follows."""

    def __init__(self, size: int = 1000, ttl_s: float = 3600):
        self.size, self.ttl_s = size, ttl_s
        self._items: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, value: dict) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, key: str) -> dict | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def claim(self, key: str, name: str, value):
        """Set `name` on the entry unless already set; the value it holds afterwards (the first one wins)."""
        with self._lock:
            return self._items[key][1].setdefault(name, value)

    def __len__(self) -> int:
        return len(self._items)


class Broker:
    def __init__(self, ring: int = 200, max_pending: int = 500, checks: Recent | None = None):
        self.checks = checks or Recent()
        self.answered = Recent(size=1000, ttl_s=600)  # file fingerprint -> the person's answer in the page
        self.cleaned = Recent(size=1000, ttl_s=600)  # file fingerprint -> its copy /strip made, for "fix"
        self.max_pending = max_pending
        self._pending: dict[str, Pending] = {}
        self._messages: deque[Message] = deque(maxlen=ring)
        self._ids = itertools.count(1)
        self._last_id = 0
        self._cond = threading.Condition()
        self._proxy_seen: float | None = None

    # -- answers given in the page ------------------------------------------------------------------------------

    def remember_answer(self, fingerprints: list[str], choice: str, reason: str = "") -> None:
        """The person already answered for these files in the page (the extension): the proxy will see the same
        bytes a moment later and must not ask again."""
        for fp in fingerprints:
            self.answered.put(fp, {"choice": choice, "reason": reason})

    def remember_cleaned(self, original: str, cleaned: str) -> None:
        """The page had the location removed from a file (/strip): the proxy will see the cleaned copy."""
        self.cleaned.put(original, {"fingerprint": cleaned})

    def with_cleaned(self, fingerprints: list[str]) -> list[str]:
        """These files' fingerprints and, for each the page had cleaned, its cleaned copy's."""
        return fingerprints + [c["fingerprint"] for fp in fingerprints if (c := self.cleaned.get(fp))]

    def answer_for(self, fingerprints: list[str]) -> Answer | None:
        """The page's answer covering every one of these files, if there is one."""
        found = [self.answered.get(fp) for fp in fingerprints]
        if not fingerprints or any(f is None for f in found):
            return None
        choices = {f["choice"] for f in found}
        return Answer(found[0]["choice"], found[0]["reason"]) if len(choices) == 1 else None

    # -- held requests -------------------------------------------------------------------------------------------

    def hold(self, summary: dict, timeout_s: float) -> Pending:
        """Register a held request; `summary` is what the person is shown (url, findings with clauses)."""
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s!r}")
        with self._cond:
            self._sweep_locked()
            if sum(p.state == "pending" for p in self._pending.values()) >= self.max_pending:
                raise Full(f"{self.max_pending} requests are already waiting for a decision")
            p = Pending(id=str(uuid.uuid4()), summary=dict(summary), timeout_s=timeout_s, created=time.time(),
                        deadline=time.monotonic() + timeout_s, _broker=self)
            self._pending[p.id] = p
            self._emit("pending", p.to_dict())
            return p

    def get(self, pending_id: str) -> Pending | None:
        self._sweep()
        with self._cond:
            return self._pending.get(pending_id)

    def decide(self, pending_id: str, choice: str, reason: str = "") -> Pending:
        """Resolve a held request. Deciding again with the same choice is a harmless retry."""
        if choice not in CHOICES:
            raise ValueError(f"unknown choice {choice!r} (one of {', '.join(CHOICES)})")
        with self._cond:
            self._sweep_locked()
            p = self._pending.get(pending_id)
            if p is None:
                raise KeyError(pending_id)
            if p.decision is not None:
                if p.decision.choice != choice:
                    raise NotPending(f"this post was already answered with {p.decision.choice!r}")
                return p
            if p.expired:
                raise NotPending("this post waited too long for an answer; the policy's fallback was applied")
            p.decision, p.ended_at = Answer(choice, reason), time.monotonic()
            p._done.set()
            self._emit("decided", {"pending_id": p.id, "url": p.url, "decision": p.decision.to_dict()})
            return p

    def pending(self) -> list[Pending]:
        """Requests still waiting, oldest first."""
        self._sweep()
        with self._cond:
            return [p for p in self._pending.values() if p.state == "pending"]

    # -- notices and the stream ----------------------------------------------------------------------------------

    def notify(self, notice: dict) -> Message:
        """A one-off notice for the person (for example, the location removed from a photo on its way out)."""
        with self._cond:
            return self._emit("notice", dict(notice))

    def notices(self) -> list[dict]:
        with self._cond:
            return [m.data for m in self._messages if m.kind == "notice"]

    def subscribe(self, last_id: int | None = None) -> "Subscription":
        """A reader of the stream. Without `last_id` it starts with what is waiting now; with one, it replays the
        messages after it still in the ring."""
        return Subscription(self, last_id)

    def _emit(self, kind: str, data: dict) -> Message:  # caller holds self._cond
        msg = Message(next(self._ids), kind, data)
        self._messages.append(msg)
        self._last_id = msg.id
        self._cond.notify_all()
        return msg

    def _after(self, last_id: int) -> list[Message]:  # caller holds self._cond
        return [m for m in self._messages if m.id > last_id]

    # -- the proxy's heartbeat -----------------------------------------------------------------------------------

    def proxy_seen(self) -> None:
        """The proxy checked in (any call it makes, or its periodic heartbeat)."""
        self._proxy_seen = time.monotonic()

    heartbeat = proxy_seen  # the Holder protocol's name: the in-process proxy calls it directly

    def proxy_active(self, within_s: float = 60) -> bool:
        seen = self._proxy_seen
        return seen is not None and time.monotonic() - seen <= within_s

    # -- expiry --------------------------------------------------------------------------------------------------

    def _sweep(self) -> None:
        with self._cond:
            self._sweep_locked()

    def _sweep_locked(self) -> None:
        now = time.monotonic()
        for p in list(self._pending.values()):
            if p.state == "pending" and now >= p.deadline:
                p.expired, p.ended_at = True, now
                p._done.set()
                self._emit("expired", {"pending_id": p.id, "url": p.url})
            elif p.ended_at is not None and now - p.ended_at > KEEP_FINISHED_S:
                del self._pending[p.id]


class Subscription:
    def __init__(self, broker: Broker, last_id: int | None):
        self.broker = broker
        with broker._cond:
            broker._sweep_locked()
            ring = broker._messages
            replay = last_id is not None and last_id <= broker._last_id  # else fresh, or the service restarted
            self._backlog = broker._after(last_id) if replay else []
            if not replay or (ring and ring[0].id > last_id + 1):  # a gap the ring no longer covers
                self._backlog += [Message(broker._last_id, "pending", p.to_dict())
                                  for p in broker._pending.values() if p.state == "pending"]
            self.last_id = broker._last_id

    def next(self, timeout: float) -> list[Message]:
        """The backlog first; then block up to `timeout` seconds for new messages (an empty list if none)."""
        if self._backlog:
            out, self._backlog = self._backlog, []
            return out
        deadline = time.monotonic() + timeout
        b = self.broker
        with b._cond:
            while True:
                b._sweep_locked()
                out = b._after(self.last_id)
                left = deadline - time.monotonic()
                if out or left <= 0:
                    break
                b._cond.wait(min(left, _nearest_deadline(b) or left))
            if out:
                self.last_id = out[-1].id
            return out


def _nearest_deadline(b: Broker) -> float | None:
    """Seconds until the next hold expires, so a waiting reader wakes to report it."""
    now = time.monotonic()
    lefts = [p.deadline - now for p in b._pending.values() if p.state == "pending"]
    return max(0.01, min(lefts)) if lefts else None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
