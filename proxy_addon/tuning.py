"""Process tuning for the proxy: memory kept for the next upload, garbage collection after big flows, and the hook
lookups `mitmdump -s` makes. None of it changes what the proxy decides; each piece was measured (numbers below)."""
from __future__ import annotations

import asyncio
import ctypes
import gc
import sys

from mitmproxy import hooks

BIG_BODY = 4 << 20
GC_DELAY_S = 0.01  # after the response hook: the response is on its way, the flow is finished
KEEP_FREED = 64 << 20  # freed memory malloc keeps for the next upload instead of returning it (keep_freed_memory)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)


def settle_start_up() -> None:
    """Everything loaded by now (mitmproxy, the engine, the store) lives as long as the proxy: frozen, the
    collector never scans it again. And keep freed memory for the next upload."""
    gc.collect()
    gc.freeze()
    keep_freed_memory()


class Collector:
    """mitmproxy's flows sit in reference cycles (its protocol layers hold bound methods of themselves), so a
    finished upload's body is freed only when the garbage collector next runs: with large uploads, hundreds of
    megabytes later. After a big flow, a collection runs a moment later, once this flow is done too. The objects
    alive at start-up are frozen out of collections (`settle_start_up`), so one costs about a millisecond instead
    of tens."""

    def __init__(self):
        self._pending = False

    def after(self, flow) -> None:
        if flow.request.raw_content and len(flow.request.raw_content) > BIG_BODY and not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_later(GC_DELAY_S, self._collect)

    def _collect(self) -> None:
        self._pending = False
        gc.collect()


def keep_freed_memory(limit: int = KEEP_FREED) -> bool:
    """Every upload is copied a few times (mitmproxy's buffers, the extraction, a cleaned body). glibc's malloc
    hands a freed multi-megabyte block straight back to the kernel (munmap, or trimming the heap), so the next
    upload's copies fault every page in again: about 2.5 ms per 5 MB here, more than the inspection itself. Raise
    the mmap and trim thresholds so freed blocks up to `limit` stay mapped and are reused, and keep one arena, so
    the worker threads reuse the blocks the event loop freed instead of each keeping its own (measured through 200
    uploads of 10 MB: peak RSS 179 MB, against 241 MB with an arena per thread and 178 MB untuned; the upload's
    p50 49 ms against 69 ms untuned). glibc only (mallopt); elsewhere nothing changes. Returns whether it did."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1) and mallopt(M_MMAP_THRESHOLD, min(limit, 32 << 20))
                and mallopt(M_TRIM_THRESHOLD, limit))


def answer_every_hook(namespace: dict) -> None:
    """`mitmdump -s` asks the script module itself, not only its addons, for every hook on every event
    (addonmanager.traverse), and a module answers a name it lacks by formatting an AttributeError: six or so a
    request, about 80,000 CPU instructions (callgrind, a 2 KB JSON post: 8.60M -> 8.52M against plain mitmdump's
    8.07M). So every hook the module does not define is set to None there: mitmproxy skips a hook that is None."""
    for hook in hooks.all_hooks:
        namespace.setdefault(hook, None)
