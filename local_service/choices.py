"""The event list's drop-down values, without a DISTINCT over the whole log on every page load.

Read from the store once, kept current by the store's append listener, and read again every few minutes for
writers in other processes (`postguard` commands, a second service on a shared PostgreSQL database).
"""
from __future__ import annotations

import threading
import time

COLUMNS = ("user", "device", "rule", "host")


class FilterChoices:
    def __init__(self, store, max_age_s: float = 600, limit: int = 200):
        self.store = store
        self.max_age_s = max_age_s
        self.limit = limit
        self._values: dict[str, set[str]] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        store.listeners.append(self._stored)

    def get(self, column: str) -> list[str]:
        if column not in COLUMNS:
            raise ValueError(f"no drop-down for {column!r}")
        if time.monotonic() - self._read_at > self.max_age_s:
            fresh = {c: set(self.store.distinct(c, self.limit)) for c in COLUMNS}
            with self._lock:
                self._values, self._read_at = fresh, time.monotonic()
        with self._lock:
            return sorted(self._values.get(column, ()))[:self.limit]

    def _stored(self, events) -> None:
        with self._lock:
            if not self._values:
                return  # nothing read yet: the first get() reads the store
            for e in events:
                for column in COLUMNS:
                    value = getattr(e, column, "")
                    if value:
                        self._values[column].add(value)


_created = threading.Lock()


def for_app(app, store) -> FilterChoices:
    """One per app (and store)."""
    with _created:
        choices = app.extensions.get("postguard_choices")
        if choices is None or choices.store is not store:
            choices = app.extensions["postguard_choices"] = FilterChoices(store)
        return choices
