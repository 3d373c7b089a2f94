"""Inspections off mitmproxy's event loop, each within a time budget.

A few worker threads of their own (not the loop's default executor, which the log writes and the service calls use),
in two lanes: large or encoded bodies, whose number in flight is bounded and so is the memory they hold (each decodes
at most extract.MAX_DECODED), and small plain ones, which never wait behind them. The event loop awaits an inspection only up to its deadline; past it the inspection is
abandoned: a queued one is cancelled, a running one (Python cannot stop a thread) finishes on its own and its result
is dropped, and the caller handles the post as one that could not be inspected. Never as clean.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

log = logging.getLogger("postguard.proxy")
WORKERS = 4  # large or content-encoded bodies: each may decode to 64 MB, so this bounds the memory they hold
SMALL_WORKERS = 2  # small plain bodies have a lane of their own, so a text post never queues behind photos or bombs
SMALL_BODY = 64 << 10  # (six bombs in flight with one lane: a 74-byte post waited 1.3-1.8 s for a free inspector)


class OverBudget(Exception):
    """The inspection did not finish within its budget: the message says why, for the record."""


class Inspectors:
    def __init__(self, workers: int = WORKERS, small_workers: int = SMALL_WORKERS):
        self._lanes = {False: (workers, concurrent.futures.ThreadPoolExecutor(workers, "postguard-inspect")),
                       True: (small_workers, concurrent.futures.ThreadPoolExecutor(small_workers,
                                                                                   "postguard-inspect-small"))}
        self._lock = threading.Lock()
        self.abandoned = 0  # abandoned inspections still running on a worker

    @staticmethod
    def small(body: bytes, encoded: bool) -> bool:
        """Whether a body goes to the small lane: at most SMALL_BODY bytes and not content-encoded (a small body may
        decode to megabytes)."""
        return len(body) <= SMALL_BODY and not encoded

    async def run(self, fn, *args, budget_s: float, small: bool = False):
        """fn(*args) on a worker of its lane; its result, or OverBudget once `budget_s` seconds have passed."""
        workers, pool = self._lanes[small]
        work = pool.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(work), max(budget_s, 0.0))
        except TimeoutError:
            if work.cancelled():  # still queued behind other inspections: it never started
                raise OverBudget(f"no inspector was free within the {budget_s:g} s budget (proxy "
                                 f"inspection_budget_s; {workers} busy)") from None
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
        for _, pool in self._lanes.values():
            pool.shutdown(wait=False, cancel_futures=True)
