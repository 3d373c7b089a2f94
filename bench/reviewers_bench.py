"""What named accounts and triage cost a dashboard request: the gate (session, account, role check) and the triage
queue, on a laptop store of N events (SQLite), through Flask's test client.

    .venv/bin/python bench/reviewers_bench.py [--events 20000] [--rounds 200]

Prints the median and p95 of: /admin/events for the old admin and for a DSL (the gate's extra reads), the triage
queue filtered to "new" (an outer join on the events) and to "seen", and a post's page (its events found by
person, device, destination and time).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from argon2 import PasswordHasher  # noqa: E402

from local_service import accounts, auth  # noqa: E402
from local_service.app import create_app  # noqa: E402
from local_service.services import Services  # noqa: E402
from rules.config import parse_config  # noqa: E402
from rules.record.events import Event  # noqa: E402

PASSWORD = "a bench password"


def timed(client, url, rounds):
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        r = client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def login(app, store, email):
    client = app.test_client()
    client.get("/admin/login")
    with client.session_transaction() as s:
        token = s["csrf"]
    r = client.post("/admin/login", data={"account": email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.status_code
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    auth.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # logins are not what is measured
    tmp = Path(tempfile.mkdtemp())
    config = parse_config({"data_dir": str(tmp / "data"), "school": {"name": "Bench School"}})
    svc = Services.open(config, database=f"sqlite:///{tmp / 'events.sqlite3'}", token="bench-token-0123456789",
                        user="bench")
    app = create_app({"SECRET_KEY": "bench"}, svc)
    store = svc.store
    t0 = datetime.now(timezone.utc) - timedelta(days=60)
    batch = []
    for i in range(args.events):  # posts of one or two findings
        at = t0 + timedelta(minutes=4 * i)
        for j in range(1 + i % 2):
            batch.append(Event(rule=("location.gps", "pupil.image")[j], decision="warned", severity="medium",
                               user=f"user{i % 300}", device=f"laptop-{i % 40}", source="proxy",
                               path=f"https://www.facebook.com/upload?id={i}", time=at + timedelta(milliseconds=j)))
        if len(batch) >= 2000:
            store.append(batch)
            batch = []
    if batch:
        store.append(batch)
    auth.set_password(store, PASSWORD)
    accounts.add(store, "dsl@bench.sch.uk", "dsl", ["Bench School"])
    accounts.set_password(store, "dsl@bench.sch.uk", PASSWORD)
    admin, dsl = login(app, store, "admin"), login(app, store, "dsl@bench.sch.uk")
    newest = store.list(limit=60).rows
    for row in newest[:40:2]:
        post = store.post_events(row["id"])
        store.triage_set(post[0]["id"], [r["id"] for r in post], "seen", "dsl@bench.sch.uk", "dsl@bench.sch.uk")
    n = store.count()
    print(f"{n} events ({args.events} posts), {args.rounds} requests each, ms median / p95:")
    for name, client, url in [("events, admin", admin, "/admin/events"), ("events, dsl", dsl, "/admin/events"),
                              ("triage new", dsl, "/admin/triage/?status=new"),
                              ("triage seen", dsl, "/admin/triage/?status=seen"),
                              ("my queue", dsl, "/admin/triage/?mine=1"),
                              ("a post", dsl, f"/admin/triage/posts/{newest[1]['id']}")]:
        med, p95 = timed(client, url, args.rounds)
        print(f"  {name:14s} {med:7.1f} / {p95:7.1f}")
    store.close()


if __name__ == "__main__":
    main()
