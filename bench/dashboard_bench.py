"""What the readable dashboard costs on SQLite: counting posts for the overview's tiles (charts.post_counts over
Store.iter_all) and the search box's free-text scan (search.scan over the newest SCAN_CAP events).

Both read events through the store's pages (there is no SQL for them: store.py is the only SQL), so their cost
grows with the events read; the overview counts posts only up to charts.POSTS_CAP events in 30 days and says
"findings" past it. Prints the median of --runs runs for each size; exits 0 (benchmarks must not fail CI).

Usage: python bench/dashboard_bench.py [--sizes 1000,2000,5000] [--runs 3]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local_service import charts, search  # noqa: E402
from rules.record.events import Event, utcnow  # noqa: E402
from rules.record.store import Filter, Store  # noqa: E402


def fill(store: Store, n: int) -> None:
    rnd, now, batch = random.Random(1), utcnow(), []
    for i in range(n):
        batch.append(Event(rule=rnd.choice(["location.gps", "location.place", "pupil.image"]),
                           decision=rnd.choice(["sanitised", "warned", "overridden", "blocked"]), severity="high",
                           user=f"u{rnd.randint(1, 50)}", device=f"LT-{rnd.randint(1, 20)}",
                           path=f"https://x.com/p{i % 7}", time=now - timedelta(seconds=rnd.random() * 29 * 86400),
                           reason="Parental consent on file" if i % 97 == 0 else ""))
        if len(batch) == 1000:
            store.append(batch)
            batch = []
    store.append(batch)


def median_s(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000,5000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        folder = Path(tempfile.mkdtemp())
        store = Store(f"sqlite:///{folder / 'events.sqlite3'}", verify_key=folder / "verify_key")
        fill(store, n)
        since = utcnow() - timedelta(days=30)
        posts = median_s(lambda: charts.post_counts(store.iter_all(Filter(since=since)), 10 * n), args.runs)
        scan = median_s(lambda: search.scan(store, Filter(), "no such words"), args.runs)
        print(f"{n:>7} events: post_counts {posts * 1000:7.0f} ms   search scan "
              f"({min(n, search.SCAN_CAP)} read) {scan * 1000:7.0f} ms")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
