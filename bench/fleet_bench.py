"""Benchmark the trust server (issue 15 item 8): a fleet of simulated laptops uploading signed batches over HTTP to a
real `postguard server run` (gunicorn) on a real PostgreSQL server on this machine, then the dashboard at 10
million events.

What it measures, in one run:

1. Uploads. --devices N laptops (default 25,000) in --schools S schools (default 50) are enrolled in bulk (one
   executemany of the `devices` table in the shape Store.device_enrol writes: an Ed25519 key pair and a sealing
   start key each, derived from --seed), then each uploads one signed batch every --period seconds (default 60:
   N/60 = 417 uploads/s for 25,000), open loop, evenly spread. A batch carries 0-3 events by --mix (default
   "0:85,1:10,2:4,3:1": most minutes nothing happens, the batch is the laptop's heartbeat with its health); every
   event is built, chained and sealed exactly as a laptop's store does (rules/record/store.py, seal.py), so the
   server runs its whole check, and the run fails loudly if any integrity event appears. Batches are built and
   signed before the clock starts (the laptop's cost, not the server's). Client: --clients processes (default 1),
   each an asyncio loop speaking HTTP/1.1 over --connections keep-alive connections. A device's next batch waits
   for its previous answer (a laptop forwards in order). Latency is counted from the moment an upload was due, so
   a server that falls behind shows it (no coordinated omission). After --warmup seconds, --duration seconds are
   measured: uploads/s completed, p50/p99/max latency, errors, CPU per upload (the gunicorn processes' and the
   PostgreSQL server's user+system time from /proc), the client's and everything else's share of the machine
   (other work on it is not ours but is reported), and database growth per million events stored.
2. The dashboard. The events table is filled to --events M (default 10,000,000) by one INSERT ... SELECT inside
   PostgreSQL from the rows the uploads stored (each real row is copied with a new id, server seq, chain fields,
   device, school and time; the message, clauses and evidence are the real ones), spread over the last --span-days
   days (default 90, the default retention) across every enrolled device and its school; indexes are dropped
   before and rebuilt after, the overview's daily rollups (event_days, host_days) counted from them as migration
   0005 does, then VACUUM ANALYZE. Then, logged in as the admin over HTTP (the login form, its CSRF token and
   session cookie, as tests/local_service/admin_helpers.py does), --page-runs requests of each of:
   the overview (/admin/), the event list (page 1, page 2 by its cursor, filtered by a user, by a device, by a rule
   and severity): p50/p95 each, and the first (cold) load of each on its own. For a page whose p95 misses the
   target, EXPLAIN ANALYZE of its statements is printed.

Targets (PASS/FAIL; the script always exits 0, because benchmarks must not fail CI on noisy machines; it exits 1
only when the simulation itself went wrong: an integrity event or an error status):
- uploads: at least 420 uploads/s held with p99 under 250 ms
- dashboard: p95 under 200 ms at 10 million events

PostgreSQL is a throwaway cluster on loopback (tests/pgserver.py's, with --pg-settings on top: fsync on). --quick is
a smoke run: 40 devices, a 2 s period, 2 s measured, 5,000 events for the dashboard.

Usage: python bench/fleet_bench.py [--devices N] [--quick] [--duration S] [--mix 0:85,1:10,2:4,3:1] [--events M]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from http.client import HTTPConnection
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import sqlalchemy as sa  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

import measure  # noqa: E402
from local_service.forwarder import SIGNED_PREFIX  # noqa: E402
from rules.record import seal as sealing  # noqa: E402
from rules.record import store as store_mod  # noqa: E402
from rules.record.events import Event  # noqa: E402
from tests import pgserver  # noqa: E402


def _migration(name: str):
    """A revision of rules/record/migrations, by file name (they start with a digit: no import statement)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, Path(store_mod.__file__).parent / "migrations" / "versions"
                                                  / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROLLUP_FILL = _migration("0005_event_days").FILL  # the overview's rollups counted from the events, as 0005 does

TARGET_UPLOADS_S = 420
TARGET_UPLOAD_P99_S = 0.250
TARGET_PAGE_P95_S = 0.200
PASSWORD = "fleet bench admin password"
PG_SETTINGS = "shared_buffers=2GB effective_cache_size=8GB work_mem=32MB maintenance_work_mem=1GB " \
              "max_wal_size=8GB checkpoint_timeout=15min max_connections=200"
CLK = os.sysconf("SC_CLK_TCK")

RULES = [  # (rule, weight, severity, decision choices, evidence maker)
    ("location.gps", 30, "high", ["warned", "sanitised", "cancelled", "overridden"],
     lambda r: {"lat": round(54.5 + r.random() / 5, 5), "lon": round(-1.4 + r.random() / 5, 5),
                "format": r.choice(["JPEG", "HEIC", "PNG"])}),
    ("location.place", 15, "medium", ["warned", "cancelled", "overridden"],
     lambda r: {"place": r.choice(["Acklam", "Linthorpe", "Marton", "Nunthorpe"]), "field": "caption"}),
    ("personal_data.pupil", 25, "high", ["blocked", "warned", "cancelled"],
     lambda r: {"kind": r.choice(["upn", "uln"]), "count": r.randint(1, 4)}),
    ("school_email.personal_account", 12, "medium", ["warned", "overridden"],
     lambda r: {"form": "signup", "domain": r.choice(["gmail.com", "outlook.com"])}),
    ("pupil.image", 10, "high", ["warned", "blocked", "cancelled"],
     lambda r: {"match": r.choice(["library", "badge", "faces"]), "distance": r.randint(0, 12)}),
    ("inspection.error", 8, "low", ["inspection_error"],
     lambda r: {"stage": r.choice(["multipart", "json", "image"]), "error": "truncated body"}),
]
HOSTS = ["www.instagram.com", "www.facebook.com", "x.com", "www.tiktok.com", "www.youtube.com", "en.wikipedia.org",
         "www.threads.net", "blog.example.org", "padlet.com", "www.canva.com"]


# -- the simulated laptops -------------------------------------------------------------------------------------

def _derive(seed: int, i: int, what: str) -> bytes:
    return hashlib.sha256(f"fleet-bench:{seed}:{i}:{what}".encode()).digest()


class Laptop:
    """One enrolled laptop: its keys, and its record's chain as its store keeps it (sequence, head, sealing key)."""

    def __init__(self, seed: int, i: int, schools: int):
        self.i = i
        self.id = str(uuid.UUID(bytes=_derive(seed, i, "id")[:16], version=4))
        self.name = f"LAPTOP-{i:05d}"
        self.school = school_name(i % schools)
        self.signer = Ed25519PrivateKey.from_private_bytes(_derive(seed, i, "sign"))
        self.start_key = _derive(seed, i, "seal")
        self.key, self.seq, self.head = self.start_key, 0, store_mod.GENESIS
        self.rand = random.Random(seed * 1_000_003 + i)
        self.staff = [f"staff{self.rand.randint(1, 60):02d}@{self.school.lower().replace(' ', '')}.sch.uk"
                      for _ in range(2)]

    def public_hex(self) -> str:
        return self.signer.public_key().public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw).hex()

    def _event(self) -> dict:
        """A new event in this laptop's record, as its outbox sends it (Store.outbox's wire shape)."""
        r = self.rand
        rule, _w, severity, decisions, evidence = r.choices(RULES, [x[1] for x in RULES])[0]
        host = r.choice(HOSTS)
        decision = r.choice(decisions)
        e = Event(rule=rule, decision=decision, severity=severity, user=r.choice(self.staff), device=self.name,
                  host=host, path=f"https://{host}/upload", source=r.choice(["proxy", "extension"]),
                  message=f"This post would show {rule.split('.')[-1].replace('_', ' ')}: see the school's policy.",
                  reason="Parental consent on file" if decision == "overridden" else "",
                  clauses=[{"ref": f"{self.school}: 6.9", "text": "Photographs of pupils must not be published "
                                                                   "on personal web space."}],
                  evidence=evidence(r))
        self.seq += 1
        digest = store_mod._digest(e.content())
        h = store_mod._link(self.head, digest)
        seal = sealing.seal(self.key, self.seq, h, store_mod._header(e))
        self.key = sealing.evolve(self.key)
        wire = {"seq": self.seq, "id": e.id, "time": e.time.astimezone(timezone.utc).isoformat(), "rule": e.rule,
                "severity": e.severity, "decision": e.decision, "user": e.user, "device": e.device, "host": e.host,
                "path": e.path, "source": e.source, "reason": e.reason, "message": e.message, "clauses": e.clauses,
                "evidence": e.evidence, "purged": False, "digest": digest, "prev_hash": self.head, "hash": h,
                "seal": seal}
        self.head = h
        return wire

    def batch(self, n_events: int) -> tuple[bytes, str]:
        """The next signed batch (body, signature hex), with `n_events` new events."""
        rows = [self._event() for _ in range(n_events)]
        head = {"seq": self.seq, "hash": self.head, "seal": sealing.anchor_seal(self.key, self.seq, self.head)}
        body = {"sent_at": datetime.now(timezone.utc).isoformat(), "head": head,
                "health": {"version": "0.9.0", "backlog": 0, "proxy": True, "extension": True,
                           "pack": "st-mary-of-the-angels", "user": self.staff[0]},
                "events": rows}
        raw = json.dumps(body, ensure_ascii=False).encode()
        return raw, self.signer.sign(SIGNED_PREFIX + self.id.encode() + b"\n" + raw).hex()


def school_name(k: int) -> str:
    return f"School {k:02d}"


def parse_mix(text: str) -> tuple[list[int], list[float]]:
    counts, weights = [], []
    for part in text.split(","):
        n, w = part.split(":")
        counts.append(int(n))
        weights.append(float(w))
    return counts, weights


# -- the load generator (one process) --------------------------------------------------------------------------

def client_main(args, part: int, start_at: float, host: str, port: int, out) -> None:
    """Build this client's batches ahead of time, then send each when due; report (due, latency, status, events)."""
    counts, weights = parse_mix(args.mix)
    rate = args.devices / args.period
    total = int(rate * (args.warmup + args.duration))
    mine = [k for k in range(total) if (k % args.devices) % args.clients == part]
    laptops: dict[int, Laptop] = {}
    mixer = random.Random(args.seed * 7 + part)
    plan = []
    for k in mine:
        d = k % args.devices
        lap = laptops.get(d) or laptops.setdefault(d, Laptop(args.seed, d, args.schools))
        n = mixer.choices(counts, weights)[0]
        body, sig = lap.batch(n)
        plan.append((k / rate, lap.id, body, sig, n))
    built = time.process_time()
    results = asyncio.run(_send_all(plan, start_at, host, port, max(1, args.connections // args.clients)))
    out.send({"results": results, "build_cpu": built,
              "send_cpu": time.process_time() - built})
    out.close()


async def _send_all(plan, start_at, host, port, connections):
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, port))
    previous: dict[str, asyncio.Task] = {}
    results = []
    head = f"POST /device/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"

    async def one(due, device, body, sig, n, before):
        if before is not None:
            await before
        conn = await pool.get()
        status, tries = 0, 0
        request = (head + f"X-PostGuard-Device: {device}\r\nX-PostGuard-Signature: {sig}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        try:
            while status == 0 and tries < 5:  # a keep-alive connection the server closed: resend, as a laptop does
                tries += 1
                try:
                    reader, writer = conn
                    writer.write(request)
                    status, close, answer = await _response(reader)
                    if status != 200:
                        print(f"upload answered {status}: {answer[:300]!r}", file=sys.stderr)
                    if close:
                        writer.close()
                        conn = await asyncio.open_connection(host, port)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    conn[1].close()
                    conn = await asyncio.open_connection(host, port)
        finally:
            pool.put_nowait(conn)
        results.append((due, time.time() - start_at - due, status, n, tries - 1))

    loop_start = time.time()
    if start_at > loop_start:
        await asyncio.sleep(start_at - loop_start)
    tasks = []
    for due, device, body, sig, n in plan:
        wait = start_at + due - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        t = asyncio.ensure_future(one(due, device, body, sig, n, previous.get(device)))
        previous[device] = t
        tasks.append(t)
    await asyncio.gather(*tasks)
    return results


async def _response(reader) -> tuple[int, bool, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if ":" in x)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() == "close", body


# -- CPU accounting from /proc ---------------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, user+system clock ticks)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds used so far by the processes under `roots` (themselves included) that are alive now."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo, ticks = set(), list(roots), 0
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        ticks += table[pid][1]
        todo.extend(children.get(pid, []))
    return ticks / CLK


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return (sum(parts[:8]) - idle) / CLK, sum(parts[:8]) / CLK


# -- set-up ----------------------------------------------------------------------------------------------------

class Cluster(pgserver.PgServer):
    """tests/pgserver.py's throwaway cluster, with the settings a trust's database server would have."""

    def __init__(self, settings: str):
        super().__init__()
        self.settings = settings

    def start(self) -> "Cluster":
        data = os.path.join(self.dir, "data")
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(pgserver._bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} " \
               "-c fsync=on " + " ".join(f"-c {s}" for s in self.settings.split())
        self._run(pgserver._bin("pg_ctl"), "-D", data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w",
                  "-t", "60", "start")
        return self

    def postmaster(self) -> int:
        return int(Path(self.dir, "data", "postmaster.pid").read_text().split()[0])


def enrol_all(store, args) -> list[Laptop]:
    t = time.perf_counter()
    for k in range(args.schools):
        store.school_add(school_name(k), f"fleet-bench-secret-{args.seed}-{k:02d}-" + "x" * 16)
    laptops = [Laptop(args.seed, i, args.schools) for i in range(args.devices)]
    now = datetime.now(timezone.utc)
    rows = [{"id": lap.id, "school": lap.school, "name": lap.name, "public_key": lap.public_hex(), "start_seq": 1,
             "start_key": lap.start_key.hex(), "next_seq": 1, "next_key": lap.start_key.hex(),
             "last_hash": store_mod.GENESIS, "enrolled": now, "revoked": False} for lap in laptops]
    with store.engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(store_mod.devices.insert(), rows[i:i + 5000])
    print(f"  enrolled {len(laptops):,} devices in {args.schools} schools in {time.perf_counter() - t:.1f} s "
          "(bulk insert, Store.device_enrol's shape)", file=sys.stderr)
    return laptops


def start_server(args, url: str, workdir: Path) -> tuple[subprocess.Popen, str, int]:
    config = workdir / "server.toml"
    config.write_text(f'data_dir = "{workdir / "server"}"\n')
    cmd = [str(Path(sys.executable).with_name("postguard")), "server", "run", "--config", str(config), "--database",
           url.replace("postgresql+psycopg://", "postgresql://"), "--port", "0", "--workers", str(args.workers)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"serving on http://([^:]+):(\d+)", line or "")
        if m:
            return proc, m.group(1), int(m.group(2))
        if proc.poll() is not None:
            break
    raise SystemExit(f"the server did not start: {cmd}")


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def db_bytes(store) -> int:
    with store.engine.connect() as conn:
        return conn.scalar(sa.text("SELECT pg_database_size(current_database())"))


def events_held(store) -> int:
    with store.engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM events WHERE origin_seq IS NOT NULL"))


# -- phase 1: uploads ------------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_uploads(args, store, server, host, port, pg_pid) -> dict:
    rate = args.devices / args.period
    before_db, before_events = db_bytes(store), events_held(store)
    build_s = max(2.0 if args.quick else 5.0, (args.warmup + args.duration) * rate / 1500 / args.clients)  # ~1,500/s
    start_at = time.time() + build_s
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for part in range(args.clients):
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=client_main, args=(args, part, start_at, host, port, send))
        p.start()
        pipes.append(recv)
        procs.append(p)
    print(f"  {args.clients} client process(es) building {int(rate * (args.warmup + args.duration)):,} signed "
          f"batches, sending from {time.strftime('%H:%M:%S', time.localtime(start_at))}", file=sys.stderr)
    if time.time() > start_at:
        print("  (the batches are still being built when sending should start: raise the build allowance)",
              file=sys.stderr)
    time.sleep(max(0.0, start_at + args.warmup - time.time()))
    client_pids = [p.pid for p in procs]
    snap0 = (tree_cpu([server.pid]), tree_cpu([pg_pid]), tree_cpu(client_pids), machine_busy(), time.time())
    time.sleep(max(0.0, start_at + args.warmup + args.duration - time.time()))
    snap1 = (tree_cpu([server.pid]), tree_cpu([pg_pid]), tree_cpu(client_pids), machine_busy(), time.time())
    results = []
    for recv, p in zip(pipes, procs):
        while not recv.poll(1.0):
            if not p.is_alive():
                raise SystemExit("a client process died: see its traceback above")
        results.extend(recv.recv()["results"])
    for p in procs:
        p.join()
    window = [r for r in results if args.warmup <= r[0] < args.warmup + args.duration]
    lat = [r[1] for r in window]
    ok = [r for r in window if r[2] == 200]
    errors = [r for r in results if r[2] != 200]
    resent = sum(r[4] for r in results)
    # held: answers given during the window, whenever they were due (a backlog from the warm-up shows in latency)
    completed = [r for r in results if args.warmup <= r[0] + r[1] < args.warmup + args.duration]
    timeline = [sum(1 for r in results if t <= r[0] + r[1] < t + 10) / 10
                for t in range(0, int(args.warmup + args.duration), 10)]
    elapsed = snap1[4] - snap0[4]
    server_cpu, pg_cpu, client_cpu = (snap1[i] - snap0[i] for i in range(3))
    busy = snap1[3][0] - snap0[3][0]
    total = snap1[3][1] - snap0[3][1]
    events_now = events_held(store)
    after_db = db_bytes(store)
    integrity = store.count(store_mod.Filter(rule=None)) - events_now
    return {"offered": rate, "held": len(completed) / args.duration, "uploads": len(window), "ok": len(ok),
            "errors": len(errors), "resent": resent, "timeline": timeline, "p50": pct(lat, 50), "p99": pct(lat, 99),
            "max": max(lat) if lat else 0,
            "events": sum(r[3] for r in window), "events_total": events_now - before_events,
            "server_cpu": server_cpu, "pg_cpu": pg_cpu, "client_cpu": client_cpu, "busy": busy, "total": total,
            "elapsed": elapsed, "growth": after_db - before_db, "not_forwarded": integrity}


# -- phase 2: the dashboard at M events ------------------------------------------------------------------------

COPY_COLUMNS = ("id", "time", "rule", "severity", "decision", "user", "device", "host", "path", "source", "reason",
                "message", "clauses", "evidence", "purged", "digest", "prev_hash", "hash", "seal", "school",
                "origin", "origin_seq", "origin_prev", "origin_hash", "origin_seal", "verified", "sent_at",
                "received_at")


def bulk_fill(store, args) -> float:
    """Fill the events table to args.events rows inside PostgreSQL: every new row copies a real uploaded row's
    content, with its own id, seq, chain fields, device (and its school), origin_seq and time."""
    t = time.perf_counter()
    with store.engine.connect() as conn:
        have = conn.scalar(sa.text("SELECT count(*) FROM events"))
        n = args.events - have
        if n <= 0:
            return 0.0
        constraints = [(r.conname, f'ALTER TABLE events ADD CONSTRAINT "{r.conname}" {r.definition}')
                       for r in conn.execute(sa.text(
                           "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
                           "WHERE conrelid = 'events'::regclass AND contype = 'u'"))]
        indexes = [(r.indexname, r.indexdef) for r in conn.execute(sa.text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events' AND indexname NOT LIKE "
            "'%_pkey' AND indexname NOT IN (SELECT conname FROM pg_constraint)"))]
        conn.execute(sa.text("SET synchronous_commit = off"))
        conn.execute(sa.text("SET maintenance_work_mem = '1GB'"))
        for name, _ in constraints:
            conn.execute(sa.text(f'ALTER TABLE events DROP CONSTRAINT "{name}"'))
        for name, _ in indexes:
            conn.execute(sa.text(f'DROP INDEX "{name}"'))
        conn.commit()
        conn.execute(sa.text("CREATE TEMP TABLE sample AS SELECT row_number() OVER (ORDER BY seq) - 1 AS k, * "
                             "FROM events WHERE origin_seq IS NOT NULL"))
        conn.execute(sa.text("CREATE TEMP TABLE devs AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, "
                             "school, name FROM devices"))
        conn.execute(sa.text("CREATE INDEX ON sample (k)"))
        conn.execute(sa.text("CREATE INDEX ON devs (k)"))
        samples = conn.scalar(sa.text("SELECT count(*) FROM sample"))
        ndev = conn.scalar(sa.text("SELECT count(*) FROM devs"))
        if not samples:
            raise SystemExit("no uploaded events to copy: run the upload phase first")
        top = conn.scalar(sa.text("SELECT coalesce(max(seq), 0) FROM events"))
        span = args.span_days * 86400.0
        step = 2_000_000
        print(f"  filling {n:,} rows from {samples:,} uploaded ones over {ndev:,} devices...", file=sys.stderr)
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            # g runs 0..n-1; time rises with g (rows arrive in time order) with a little jitter
            conn.execute(sa.text(f"""
                INSERT INTO events (seq, {", ".join(f'"{c}"' for c in COPY_COLUMNS)})
                SELECT :top + g + 1, md5(g::text || 'id')::uuid::text,
                       now() - make_interval(secs => :span * (1 - (g + random()) / :n)),
                       s.rule, s.severity, s.decision, s."user", d.name, s.host, s.path, s.source, s.reason,
                       s.message, s.clauses, s.evidence, false,
                       encode(sha256((g::text || 'd')::bytea), 'hex'), encode(sha256((g::text || 'p')::bytea), 'hex'),
                       encode(sha256((g::text || 'h')::bytea), 'hex'), encode(sha256((g::text || 's')::bytea), 'hex'),
                       d.school, d.id, 1000000 + g / :ndev,
                       encode(sha256((g::text || 'op')::bytea), 'hex'), encode(sha256((g::text || 'oh')::bytea), 'hex'),
                       encode(sha256((g::text || 'os')::bytea), 'hex'), true,
                       now() - make_interval(secs => :span * (1 - (g + random()) / :n)),
                       now() - make_interval(secs => :span * (1 - (g + random()) / :n))
                FROM generate_series(:lo, :hi - 1) AS g
                JOIN sample s ON s.k = g % :samples
                JOIN devs d ON d.k = g % :ndev
            """), {"top": top, "span": span, "n": n, "lo": lo, "hi": hi, "samples": samples, "ndev": ndev})
            conn.commit()
            print(f"    {hi:,} rows ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
        # the server's chain head follows the rows, so the service appends after them as it would
        conn.execute(sa.text("UPDATE chain_head SET seq = (SELECT max(seq) FROM events) WHERE name = 'events'"))
        conn.execute(sa.text("UPDATE seal_state SET next_seq = (SELECT max(seq) + 1 FROM events) "
                             "WHERE name = 'events'"))
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('events', 'seq'), (SELECT max(seq) FROM events))"))
        # the overview's daily rollup, as the store keeps it when it stores events (and migration 0005 fills it)
        ti = time.perf_counter()
        conn.execute(sa.text("DELETE FROM event_days"))
        conn.execute(sa.text("DELETE FROM host_days"))
        for statement in ROLLUP_FILL:
            conn.execute(sa.text(statement.format(day="to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')")))
        conn.commit()
        print(f"    the overview's rollups: {time.perf_counter() - ti:.0f} s", file=sys.stderr)
        for name, definition in constraints + indexes:
            ti = time.perf_counter()
            conn.execute(sa.text(definition))
            conn.commit()
            print(f"    index {name}: {time.perf_counter() - ti:.0f} s", file=sys.stderr)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE events"))
    return time.perf_counter() - t


class Admin:
    """A logged-in dashboard session over HTTP, as a browser has it: the session cookie, keep-alive."""

    def __init__(self, host: str, port: int):
        self.conn = HTTPConnection(host, port, timeout=120)
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode()
        for value in resp.headers.get_all("Set-Cookie") or []:
            if value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return resp.status, text

    def login(self) -> None:
        status, page = self.request("GET", "/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status, _ = self.request("POST", "/admin/login",
                                 urllib.parse.urlencode({"password": PASSWORD, "csrf_token": token}))
        if status != 302:
            raise SystemExit(f"the admin login answered {status}")


def run_dashboard(args, store, host, port) -> list[tuple]:
    admin = Admin(host, port)
    admin.login()
    with store.engine.connect() as conn:
        user = conn.scalar(sa.text('SELECT "user" FROM events WHERE origin_seq IS NOT NULL ORDER BY seq DESC '
                                   'LIMIT 1'))
        device = conn.scalar(sa.text("SELECT name FROM devices ORDER BY id LIMIT 1"))
    status, first = admin.request("GET", "/admin/events")
    cursor = re.search(r'href="([^"]+)" rel="next"', first)
    pages = [("overview  /admin/", "/admin/"),
             ("list      page 1", "/admin/events"),
             ("list      page 2 (cursor)", cursor.group(1).replace("&amp;", "&") if cursor else "/admin/events"),
             ("list      a person", "/admin/events?" + urllib.parse.urlencode({"user": user})),
             ("list      a device", "/admin/events?" + urllib.parse.urlencode({"device": device})),
             ("list      rule + severity", "/admin/events?rule=location.gps&severity=high"),
             ("person    /admin/people/…", "/admin/people/" + urllib.parse.quote(user))]
    out = []
    for label, path in pages:
        t = time.perf_counter()
        status, _ = admin.request("GET", path)
        cold = time.perf_counter() - t
        if status != 200:
            raise PageFailed(f"{path} answered {status}")
        for _ in range(args.workers * 2):  # every worker's first load (its drop-down values) before timing
            admin.request("GET", path)
        times = []
        for _ in range(args.page_runs):
            t = time.perf_counter()
            admin.request("GET", path)
            times.append(time.perf_counter() - t)
        out.append((label, path, cold, pct(times, 50), pct(times, 95)))
    return out


class PageFailed(Exception):
    pass


def explain(store, path: str) -> str:
    """EXPLAIN ANALYZE of the store's statements behind a slow page."""
    from local_service.forms import parse_filter  # the dashboard's own parsing of the query string
    q = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
    flt, _ = parse_filter({k: v[0] for k, v in q.items() if k != "cursor"})
    statements = []
    if path.rstrip("/") == "/admin":
        since = (datetime.now(timezone.utc) - timedelta(days=29)).date().isoformat()
        d, h = store_mod.event_days, store_mod.host_days
        statements = [sa.select(d.c.day, d.c.rule, sa.func.sum(d.c.n)).where(d.c.day >= since)
                      .group_by(d.c.day, d.c.rule),
                      sa.select(d.c.decision, sa.func.sum(d.c.n)).where(d.c.day >= since).group_by(d.c.decision),
                      sa.select(h.c.host, sa.func.sum(h.c.n)).where(h.c.day >= since, h.c.host != "")
                      .group_by(h.c.host).order_by(sa.desc(sa.func.sum(h.c.n))).limit(10)]
    else:
        e = store_mod.events
        statements = [sa.select(e).where(*flt.clauses()).order_by(e.c.time.desc(), e.c.seq.desc()).limit(51)]
    out = []
    with store.engine.connect() as conn:
        for s in statements:
            sql = str(s.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            out.append("\n".join(r[0] for r in conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql))))
    return "\n\n".join(out)


# -- the report ------------------------------------------------------------------------------------------------

def report_uploads(r: dict, args) -> bool:
    print(f"\n== uploads: {args.devices:,} laptops, one batch every {args.period:g} s, mix {args.mix} ==")
    print(f"offered          {r['offered']:9.1f} uploads/s")
    print(f"held             {r['held']:9.1f} uploads/s   ({r['uploads']:,} due in {args.duration:g} s, "
          f"{r['ok']:,} answered 200, {r['errors']} errors and {r['resent']} resends "
          "on a closed connection in the whole run)")
    print("answered/s       " + " ".join(f"{x:.0f}" for x in r["timeline"]) + "   (each 10 s from the first, "
          f"warm-up {args.warmup:g} s)")
    print(f"latency p50      {measure.fmt_s(r['p50'])}   (from the moment each upload was due, for those due in "
          "the window)")
    print(f"latency p99      {measure.fmt_s(r['p99'])}")
    print(f"latency max      {measure.fmt_s(r['max'])}")
    n = max(1, r["uploads"])
    print(f"events           {r['events']:9,} in the window ({r['events'] / n:.2f} an upload); "
          f"{r['events_total']:,} stored in the whole run")
    n = max(1, r["held"] * args.duration)  # the CPU of the window went to the uploads answered in it
    print(f"CPU per upload   {r['server_cpu'] / n * 1e3:8.2f} ms gunicorn + {r['pg_cpu'] / n * 1e3:.2f} ms "
          f"PostgreSQL = {(r['server_cpu'] + r['pg_cpu']) / n * 1e3:.2f} ms   (CPU in the window / uploads "
          "answered in it)")
    cores = r["total"] / r["elapsed"] if r["elapsed"] else 0
    other = r["busy"] - r["server_cpu"] - r["pg_cpu"] - r["client_cpu"]
    for name, v in (("gunicorn", r["server_cpu"]), ("PostgreSQL", r["pg_cpu"]), ("client (load gen.)",
                                                                                 r["client_cpu"]),
                    ("other work on the machine", other), ("idle", r["total"] - r["busy"])):
        print(f"  {name:26s} {v / r['elapsed']:5.2f} cores  ({v / r['total'] * 100:5.1f} % of {cores:.0f})")
    if r["events_total"]:
        print(f"database growth  {r['growth'] / r['events_total'] * 1e6 / 2**30:8.2f} GiB per million events "
              f"({r['growth'] / 2**20:.1f} MiB for {r['events_total']:,}; includes the devices' rows' churn)")
    ok = r["held"] >= min(TARGET_UPLOADS_S, r["offered"]) * 0.99 and \
        r["p99"] < TARGET_UPLOAD_P99_S
    full = r["offered"] >= TARGET_UPLOADS_S * 0.99  # 25,000 a minute is 416.7/s: the 420, rounded
    print(f"target: >= {TARGET_UPLOADS_S} uploads/s held, p99 < {TARGET_UPLOAD_P99_S * 1e3:.0f} ms: "
          f"{measure.verdict(ok and full)}" + ("" if full else f"  (offered only {r['offered']:.0f}/s: not a full "
                                                                "run)"))
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=25_000)
    ap.add_argument("--schools", type=int, default=50)
    ap.add_argument("--period", type=float, default=60.0, help="seconds between a laptop's uploads (default 60)")
    ap.add_argument("--mix", default="0:85,1:10,2:4,3:1", help="events a batch: count:weight,... ")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds sent before measuring (default 60: every "
                    "laptop has uploaded once, so the workers have read its key)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    ap.add_argument("--clients", type=int, default=1, help="load generator processes")
    ap.add_argument("--connections", type=int, default=48, help="keep-alive connections, all clients together")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (postguard server run --workers)")
    ap.add_argument("--events", type=int, default=10_000_000, help="events for the dashboard phase")
    ap.add_argument("--span-days", type=float, default=90.0)
    ap.add_argument("--page-runs", type=int, default=30)
    ap.add_argument("--pg-settings", default=PG_SETTINGS)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--skip-dashboard", action="store_true")
    ap.add_argument("--quick", action="store_true", help="a smoke run: a few devices, seconds")
    args = ap.parse_args(argv)
    if args.quick:
        args.devices, args.schools, args.period, args.warmup, args.duration = 40, 3, 2.0, 1.0, 2.0
        args.events, args.page_runs, args.connections = 5_000, 2, 8
        args.mix = "0:50,1:25,2:15,3:10"
        args.pg_settings = "shared_buffers=128MB max_connections=100"

    print(f"# fleet_bench {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {measure.cpu_model()}, "
          f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not pgserver.available():
        print("PostgreSQL (Debian's postgresql package) is not installed: nothing to measure")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server and the cluster
    pg = Cluster(args.pg_settings).start()
    workdir = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    server = None
    bad = False
    try:
        url = pg.fresh_database("fleet")
        print(f"# PostgreSQL {pg_version(url)} on 127.0.0.1:{pg.port} ({args.pg_settings}); gunicorn "
              f"{args.workers} workers (gthread)")
        store = store_mod.Store(url)
        enrol_all(store, args)
        from local_service import auth  # argon2 for the admin's password, as `postguard admin set-password`
        auth.set_password(store, PASSWORD)
        server, host, port = start_server(args, url, workdir)
        r = run_uploads(args, store, server, host, port, pg.postmaster())
        report_uploads(r, args)
        if r["errors"] or r["not_forwarded"]:
            print(f"SIMULATION WRONG: {r['errors']} uploads not answered 200, {r['not_forwarded']} events the "
                  "server recorded itself (integrity events): see stderr")
            bad = True
        if not args.skip_dashboard:
            fill = bulk_fill(store, args)
            with store.engine.connect() as conn:
                rows = conn.scalar(sa.text("SELECT count(*) FROM events"))
                table = conn.scalar(sa.text("SELECT pg_table_size('events')"))
                idx = conn.scalar(sa.text("SELECT pg_indexes_size('events')"))
            print(f"\n== dashboard at {rows:,} events, {args.schools} schools, {args.devices:,} devices, "
                  f"over {args.span_days:g} days ==")
            print(f"filled in {fill:.0f} s (INSERT ... SELECT of uploaded rows, indexes rebuilt, VACUUM ANALYZE)")
            print(f"events table     {table / 2**30:6.2f} GiB + indexes {idx / 2**30:.2f} GiB = "
                  f"{(table + idx) / rows * 1e6 / 2**30:.2f} GiB per million events")
            try:
                pages = run_dashboard(args, store, host, port)
            except PageFailed as e:
                print(f"SIMULATION WRONG: the dashboard page {e}")
                bad, pages = True, []
            print(f"{'page':34s} {'cold':>11s} {'p50':>11s} {'p95':>11s}")
            slow = []
            for label, path, cold, p50, p95 in pages:
                print(f"{label:34s} {measure.fmt_s(cold)} {measure.fmt_s(p50)} {measure.fmt_s(p95)}")
                if p95 >= TARGET_PAGE_P95_S:
                    slow.append(path)
            worst = max((p[4] for p in pages), default=float("inf"))
            print(f"target: every page's p95 < {TARGET_PAGE_P95_S * 1e3:.0f} ms at {rows:,} events: "
                  f"{measure.verdict(worst < TARGET_PAGE_P95_S)} (worst {measure.fmt_s(worst).strip()})")
            for path in slow:
                print(f"\n-- EXPLAIN ANALYZE behind {path}\n{explain(store, path)}")
        store.close()
    finally:
        if server is not None:
            stop_server(server)
        pg.stop()
    return 1 if bad else 0


def pg_version(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        v = conn.scalar(sa.text("SHOW server_version"))
    engine.dispose()
    return v.split()[0]


if __name__ == "__main__":
    sys.exit(main())
