"""Inspections off mitmproxy's event loop, each within a time budget.

A few worker threads of their own (not the loop's default executor, which the log writes and the service calls use):
the number of inspections in flight is bounded, and so is the memory they hold (each decodes at most
extract.MAX_DECODED). The event loop awaits an inspection only up to its deadline; past it the inspection is
abandoned: a queued one is cancelled, a running one (Python cannot stop a thread) finishes on its own and its result
is dropped, and the caller handles the post as one that could not be inspected. Never as clean.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

log = logging.getLogger("postguard.proxy")
WORKERS = 4  # three decompression bombs in flight still leave one inspector for everyone else's posts


class OverBudget(Exception):
    """The inspection did not finish within its budget: the message says why, for the record."""


class Inspectors:
    def __init__(self, workers: int = WORKERS):
        self.workers = workers
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="postguard-inspect")
        self._lock = threading.Lock()
        self.abandoned = 0  # abandoned inspections still running on a worker

    async def run(self, fn, *args, budget_s: float, left_s: float | None = None):
        """fn(*args) on a worker; its result, or OverBudget once `left_s` (of the post's `budget_s`) seconds have
        passed."""
        work = self._pool.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(work), max(budget_s if left_s is None else left_s, 0.0))
        except TimeoutError:
            if work.cancelled():  # still queued behind other inspections: it never started
                raise OverBudget(f"no inspector was free within the {budget_s:g} s budget (proxy "
                                 f"inspection_budget_s; {self.workers} busy)") from None
            with self._lock:
                self.abandoned += 1
            work.add_done_callback(self._finished)
            log.warning("an inspection ran past its %g s budget and was abandoned (%d still running)", budget_s,
                        self.abandoned)
            raise OverBudget(f"the inspection took longer than its {budget_s:g} s budget (proxy "
                             f"inspection_budget_s) and was abandoned") from None

    def _finished(self, _work) -> None:
        with self._lock:
            self.abandoned -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
