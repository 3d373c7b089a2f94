"""Benchmark the PostGuard mitmproxy addon: plain `mitmdump` against `mitmdump -s proxy_addon/addon.py`, on loopback.

What it measures, in one run, through real mitmdump processes on 127.0.0.1 (a local upstream site runs in its own
process; every request loop is bounded in count and time; every process is stopped in a finally block):

1. Throughput of small posts with no findings (a 1 KB urlencoded form, a 2 KB JSON body): --threads client threads
   on keep-alive connections (http.client through the proxy), plain HTTP to the upstream, and one HTTPS run
   (CONNECT, the proxy's CA from its confdir). The load switches between the two proxies every 0.3 s, in pairs of
   phases (ABBA order), because this shared machine's speed drifts by tens of percent over seconds: phases back to
   back see the same machine. Requests/s each way, the ratio addon / plain (median of the paired phases, with a 90%
   bootstrap interval, and pooled over all phases), and each mitmdump's CPU time per request (schedstat, exact to
   the nanosecond), whose ratio does not depend on the client.
2. Added latency of a ~5 MB photo upload (multipart, a noisy 2500x2000 JPEG): one with a GPS EXIF block, which the
   addon really sanitises (checked: the upstream receives different bytes, CRC-32, and the monitoring log has the
   events), and a clean one with no GPS. Plain and addon uploads alternate; p50 / p99 each way, the added p50 / p99,
   the median of the paired differences, and mitmdump's CPU time per upload.
3. Memory: VmRSS of a fresh mitmdump (with the addon, then plain for comparison) before, peak while (sampled every
   20 ms, and VmHWM) and after a series of ~10 MB GPS photo uploads.
4. The PAC file: rules.platforms.pac(load_pack('default').hosts, '127.0.0.1:8766') evaluated by node's
   FindProxyForURL for in-scope and out-of-scope hosts (banking and health sites must be DIRECT).

The addon runs as `mitmdump -s proxy_addon/addon.py --set postguard_scope=all` (so the 127.0.0.1 site counts as in
scope) with a temporary config (data_dir a temporary folder), the monitoring log in a temporary SQLite file, and
postguard_service pointed at the bench's upstream, which answers /api/v1/notices (so "sanitised" notices succeed
quickly, as with the local service running, and never reach a real service on this machine).

Targets (printed as PASS/FAIL; the script always exits 0, because benchmarks must not fail CI on noisy machines):
- throughput addon / plain >= 0.9 (each small payload, plain HTTP), by requests/s and by mitmdump CPU per request
- added p50 latency for the 5 MB GPS photo < 10 ms
- peak RSS of mitmdump with the addon through the 10 MB uploads < 250 MB
- PAC: in-scope hosts go to the proxy, every other host is DIRECT

Usage: python bench/proxy_bench.py [--quick] [--threads N]
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import multiprocessing
import os
import platform
import random
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from measure import verdict  # noqa: E402

from tests.tls import self_signed  # noqa: E402  (the proxy tests' upstream certificate)

TARGET_RATIO = 0.9
TARGET_ADDED_P50_S = 10e-3
TARGET_PEAK_RSS_MB = 250
PAC_PROXY = "127.0.0.1:8766"
PAC_HOSTS = {  # host -> expected to go through the proxy
    "www.facebook.com": True, "en.wikipedia.org": True, "facebook.com": True,
    "www.barclays.co.uk": False, "www.nhs.uk": False, "notfacebook.com": False, "facebook.com.example.net": False,
}
SHEFFIELD_GPS = {0: b"\x02\x02\x00\x00", 1: "N", 2: (53.0, 22.0, 58.25), 3: "W", 4: (1.0, 27.0, 24.04)}
BOUNDARY = "----PostGuardBench7MA4YWxkTrZu0gW"
START_TIMEOUT_S = 30


@dataclass
class Settings:
    threads: int = 8
    pairs: int = 120  # throughput: pairs of phases, plain and addon back to back (ABBA order against drift)
    phase_s: float = 0.3  # measured time per phase; the median of the paired ratios counts
    settle_s: float = 0.05  # after each switch, before counting: requests to the other proxy finish meanwhile
    warmup_s: float = 0.5
    max_per_thread: int = 2_000_000
    uploads: int = 100
    upload_warmup: int = 3
    memory_uploads: int = 200
    memory_deadline_s: float = 240.0
    latency_deadline_s: float = 120.0


QUICK = Settings(threads=4, pairs=10, phase_s=0.2, warmup_s=0.3, uploads=10, upload_warmup=2, memory_uploads=12,
                 memory_deadline_s=30.0, latency_deadline_s=20.0)


# ---------------------------------------------------------------- small helpers

def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolation percentile (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen | None, timeout: float = START_TIMEOUT_S) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_status(pid: int, key: str) -> int:
    """A /proc/<pid>/status field in kB (VmRSS, VmHWM); 0 when gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and all its threads."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def proc_run_ns(pid: int) -> int:
    """Nanoseconds a process's threads have run on a CPU (/proc/<pid>/task/*/schedstat): exact, where
    /proc/<pid>/stat counts 10 ms ticks, too coarse for a 0.3 s phase. Falls back to the ticks."""
    total, tasks = 0, Path(f"/proc/{pid}/task")
    try:
        for task in tasks.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):  # a thread that just ended
                pass
    except OSError:
        return int(proc_cpu_s(pid) * 1e9)
    return total or int(proc_cpu_s(pid) * 1e9)


def mitmdump_path() -> str:
    for candidate in (Path(sys.executable).parent / "mitmdump", REPO_ROOT / ".venv" / "bin" / "mitmdump"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("mitmdump") or "mitmdump"


# ---------------------------------------------------------------- the upstream site (its own process)

def upstream_main(pipe, cert: str, key: str) -> None:
    """A minimal asyncio HTTP/1.1 keep-alive server: reads each body, answers 200 with its length and CRC-32.
    GET /stats returns the counters; /api/v1/notices stands in for the local service."""
    stats = {"requests": 0, "notices": 0, "bytes": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                _method, path, _ = lines[0].split(b" ", 2)
                length, close = 0, False
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    k = k.strip().lower()
                    if k == b"content-length":
                        length = int(v)
                    elif k == b"connection" and v.strip().lower() == b"close":
                        close = True
                    elif k == b"transfer-encoding":
                        writer.write(b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        return
                body = await reader.readexactly(length) if length else b""
                if path == b"/stats":
                    payload = json.dumps(stats).encode()
                elif path.startswith(b"/api/v1/notices"):
                    stats["notices"] += 1
                    payload = b"{}"
                else:
                    stats["requests"] += 1
                    stats["bytes"] += length
                    payload = b'{"ok":true}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"X-Received-Length: %d\r\nX-Received-CRC32: %d\r\n\r\n%s"
                             % (len(payload), length, zlib.crc32(body), payload))
                await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        plain = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        secure = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls, backlog=512)
        pipe.send((plain.sockets[0].getsockname()[1], secure.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


class Upstream:
    def __init__(self, folder: Path):
        cert, key = self_signed(folder)
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=upstream_main, args=(child, cert, key), daemon=True)
        self.process.start()
        if not parent.poll(START_TIMEOUT_S):
            raise RuntimeError("the upstream site did not start")
        self.port, self.tls_port = parent.recv()

    def stats(self) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/stats")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


# ---------------------------------------------------------------- mitmdump processes

class Mitmdump:
    """One `mitmdump` on 127.0.0.1: plain, or with the addon and its temporary config and log."""

    def __init__(self, label: str, work: Path, confdir: Path, addon_args: list[str] | None, upstream: Upstream):
        self.label, self.port = label, free_port()
        self.log_path = work / f"mitmdump-{label}-{self.port}.log"
        args = [mitmdump_path(), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(self.port),
                "--set", f"confdir={confdir}", "--set", "ssl_insecure=true"]
        if addon_args is not None:
            args += ["-s", str(REPO_ROOT / "proxy_addon" / "addon.py"), *addon_args,
                     "--set", f"postguard_service=http://127.0.0.1:{upstream.port}"]
        env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env.pop(var, None)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
        if not wait_listening(self.port, self.proc):
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mitmdump ({label}) did not start listening on {self.port}:\n{tail}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def errors(self) -> list[str]:
        self.log.flush()
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if "Traceback" in line or "error" in line.lower()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# ---------------------------------------------------------------- payloads

@dataclass
class Payload:
    name: str
    body: bytes
    content_type: str
    expect: str  # "clean" (no findings) or "sanitise"
    offline: str = ""  # the engine's decision on it, outside the proxy

    @property
    def crc(self) -> int:
        return zlib.crc32(self.body)


def small_payloads() -> list[Payload]:
    text = ("Thanks to everyone who came along to the summer fair on Saturday. The cake stall sold out by noon and "
            "the weather held. ") * 40
    fixed = {"privacy": "public", "composer_type": "feed", "submit": "Post"}
    overhead = len(urlencode({"message": "", **fixed}))
    form = urlencode({"message": text[:1024 - overhead], **fixed}).encode()
    while len(form) > 1024:  # percent-encoding made it longer
        form = urlencode({"message": text[:1024 - overhead - (len(form) - 1024)], **fixed}).encode()
    doc = {"status": "", "visibility": "public", "language": "en", "sensitive": False, "media_ids": [],
           "poll": None, "client": {"name": "web", "version": "4.2.1"}}
    overhead = len(json.dumps(doc))
    doc["status"] = text[:2048 - overhead]
    return [Payload("form 1 KB", form, "application/x-www-form-urlencoded", "clean"),
            Payload("json 2 KB", json.dumps(doc).encode(), "application/json", "clean")]


def noisy_jpeg(size: tuple[int, int], target_bytes: int, gps: bool, seed: int) -> bytes:
    """A JPEG of random pixels (so it does not compress), quality chosen to land near target_bytes, with camera
    EXIF (Make, Model) and, when gps, a GPS block for Sheffield."""
    from PIL import Image

    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    im = Image.frombytes("RGB", size, pixels)
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 13"
    if gps:
        exif.get_ifd(0x8825).update(SHEFFIELD_GPS)

    def encode(q: int) -> bytes:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q, exif=exif)
        return buf.getvalue()

    lo, hi, best = 40, 100, None
    while lo <= hi:  # the largest quality that stays within target_bytes
        q = (lo + hi) // 2
        data = encode(q)
        if len(data) <= target_bytes:
            best, lo = data, q + 1
        else:
            hi = q - 1
    return best if best is not None else encode(40)


def multipart(jpeg: bytes, filename: str) -> bytes:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nA walk in the park\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{filename}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode()
    return head + jpeg + f"\r\n--{BOUNDARY}--\r\n".encode()


def photo_payloads() -> tuple[Payload, Payload, Payload]:
    ctype = f"multipart/form-data; boundary={BOUNDARY}"
    gps5 = Payload("photo 5 MB, GPS", multipart(noisy_jpeg((2500, 2000), 5_000_000, True, 1), "IMG_0001.jpg"),
                   ctype, "sanitise")
    clean5 = Payload("photo 5 MB, no GPS", multipart(noisy_jpeg((2500, 2000), 5_000_000, False, 2), "IMG_0002.jpg"),
                     ctype, "clean")
    gps10 = Payload("photo 10 MB, GPS", multipart(noisy_jpeg((3600, 2700), 10_000_000, True, 3), "IMG_0003.jpg"),
                    ctype, "sanitise")
    return gps5, clean5, gps10


def check_offline(payloads: list[Payload], config_path: Path) -> None:
    """What the engine decides for each payload, outside the proxy: the bench is only meaningful if the small posts
    have no findings and the GPS photos are sanitised."""
    from proxy_addon.extract import extract
    from rules import Engine, load_config

    engine = Engine(load_config(config_path))
    for p in payloads:
        ex = extract("POST", "http://127.0.0.1/submit", {"Content-Type": p.content_type}, p.body)
        v = engine.evaluate(ex.submission)
        p.offline = "clean" if not v.findings and not v.errors else (
            f"{v.decision}: " + ", ".join(f.rule for f in v.findings) + (" errors" if v.errors else ""))


# ---------------------------------------------------------------- clients

def connect(proxy_port: int, upstream: Upstream, tls: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if tls is None:
        return http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=60)
    conn = http.client.HTTPSConnection("127.0.0.1", proxy_port, timeout=60, context=tls)
    conn.set_tunnel("127.0.0.1", upstream.tls_port)
    return conn


def target_url(upstream: Upstream, tls: ssl.SSLContext | None, path: str) -> str:
    return path if tls is not None else f"http://127.0.0.1:{upstream.port}{path}"


@dataclass
class Phase:
    """One proxy's share of the load for one phase: completions counted, and its mitmdump's CPU meanwhile."""

    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu_ns: int = 0

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def alternate(proxies: tuple[Mitmdump, Mitmdump], upstream: Upstream, payload: Payload, s: Settings,
              tls: ssl.SSLContext | None = None) -> dict[str, list[Phase]]:
    """--threads keep-alive clients post `payload` as fast as the proxies answer, all to one proxy at a time,
    switching every phase_s (ABBA: A B, B A, A B, ...). Short phases back to back see the same machine: on a shared
    machine the speed drifts by tens of percent over seconds, so long separate runs compare different machines.
    A completion counts for the proxy of the phase it ends in, after settle_s, inside the phase."""
    current, counting = [proxies[0]], [None]  # read by the workers; written only by this thread
    counts = {p.label: [0, 0] for p in proxies}
    lock, stop = threading.Lock(), threading.Event()
    headers = {"Content-Type": payload.content_type}
    url = target_url(upstream, tls, "/submit")

    def worker() -> None:
        conns: dict[str, http.client.HTTPConnection] = {}
        for _ in range(s.max_per_thread):
            if stop.is_set():
                break
            proxy = current[0]
            conn = conns.get(proxy.label)
            try:
                if conn is None:
                    conn = conns[proxy.label] = connect(proxy.port, upstream, tls)
                conn.request("POST", url, payload.body, headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                if conn is not None:
                    conn.close()
                conns.pop(proxy.label, None)
            if counting[0] is proxy:
                with lock:
                    counts[proxy.label][0 if ok else 1] += 1
        for conn in conns.values():
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(s.threads)]
    for t in threads:
        t.start()
    phases: dict[str, list[Phase]] = {p.label: [] for p in proxies}
    try:
        for proxy in proxies:  # connections open, caches warm
            current[0] = proxy
            time.sleep(s.warmup_s)
        for k in range(s.pairs):
            for proxy in (proxies if k % 2 == 0 else proxies[::-1]):
                current[0] = proxy
                time.sleep(s.settle_s)
                with lock:
                    counts[proxy.label] = [0, 0]
                cpu0, t0 = proc_run_ns(proxy.pid), time.perf_counter()
                counting[0] = proxy
                time.sleep(s.phase_s)
                counting[0] = None
                cpu1, t1 = proc_run_ns(proxy.pid), time.perf_counter()
                with lock:
                    ok, errors = counts[proxy.label]
                phases[proxy.label].append(Phase(ok, errors, t1 - t0, cpu1 - cpu0))
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    return phases


def median_interval(values: list[float], confidence: float = 0.9, resamples: int = 2000) -> tuple[float, float]:
    """A bootstrap confidence interval for the median (seeded: the same data give the same interval)."""
    rng = random.Random(0)
    medians = sorted(percentile(rng.choices(values, k=len(values)), 50) for _ in range(resamples))
    tail = (1 - confidence) / 2 * 100
    return percentile(medians, tail), percentile(medians, 100 - tail)


@dataclass
class Uploads:
    times: list[float] = field(default_factory=list)
    received: list[int] = field(default_factory=list)  # CRC-32 of each body as the upstream received it
    cpu_s: float = 0.0  # the mitmdump process's CPU time over the counted uploads
    errors: int = 0


class Uploader:
    """One keep-alive connection through one proxy, posting to the upstream and timing each post."""

    def __init__(self, proxy: Mitmdump, upstream: Upstream):
        self.proxy, self.upstream = proxy, upstream
        self.url = target_url(upstream, None, "/upload")
        self.conn = connect(proxy.port, upstream, None)

    def post(self, payload: Payload) -> tuple[float, int, float] | None:
        """(seconds from sending to the whole response read, the upstream's CRC-32, mitmdump CPU seconds), or None
        on an error (the connection is renewed)."""
        cpu0, t0 = proc_cpu_s(self.proxy.pid), time.perf_counter()
        try:
            self.conn.request("POST", self.url, payload.body, {"Content-Type": payload.content_type})
            resp = self.conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = connect(self.proxy.port, self.upstream, None)
            return None
        elapsed = time.perf_counter() - t0
        if resp.status != 200:
            return None
        return elapsed, int(resp.getheader("X-Received-CRC32", "-1")), proc_cpu_s(self.proxy.pid) - cpu0

    def close(self) -> None:
        self.conn.close()


def upload_series(proxies: list[Mitmdump], upstream: Upstream, payload: Payload, count: int, warmup: int,
                  deadline_s: float, on_each=None) -> dict[str, Uploads]:
    """Sequential uploads, one proxy after the other in alternating order (so both see the same machine load),
    each proxy on its own keep-alive connection."""
    out = {p.label: Uploads() for p in proxies}
    uploaders = [Uploader(p, upstream) for p in proxies]
    end = time.monotonic() + deadline_s
    try:
        for i in range(warmup + count):
            if time.monotonic() > end:
                break
            for up in (uploaders if i % 2 == 0 else uploaders[::-1]):
                res, got = up.post(payload), out[up.proxy.label]
                if res is None:
                    got.errors += 1
                elif i >= warmup:
                    got.times.append(res[0])
                    got.received.append(res[1])
                    got.cpu_s += res[2]
            if on_each is not None:
                on_each()
    finally:
        for up in uploaders:
            up.close()
    return out


# ---------------------------------------------------------------- sections

def print_header(s: Settings, quick: bool) -> None:
    import PIL
    from mitmproxy import version as mitm_version

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = proc_status_file("/proc/meminfo", "MemTotal")
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        node = "not installed"
    print("PostGuard proxy benchmark: plain mitmdump vs mitmdump -s proxy_addon/addon.py")
    print("=" * 100)
    print(f"machine   : {platform.machine()} {platform.system()} {platform.release()}, {cpu}, "
          f"cpu_count={os.cpu_count()}, memory {mem / 1024 / 1024:.1f} GB")
    print(f"load      : {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the start")
    print(f"python    : {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"mitmproxy : {mitm_version.VERSION} ({mitmdump_path()}), Pillow {PIL.__version__}, node {node}")
    print(f"mode      : {'--quick' if quick else 'default'}; {s.threads} client threads, {s.pairs} pairs of "
          f"{s.phase_s:g} s throughput phases, {s.uploads} uploads per latency series, "
          f"{s.memory_uploads} uploads of 10 MB for memory")
    print("note      : client threads, the upstream site (own process) and mitmdump share these CPUs; mitmdump's "
          "CPU per request is the client-independent cost")
    print()


def proc_status_file(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def print_payloads(payloads: list[Payload]) -> None:
    print("Payloads (the engine's decision offline, with the bench's config)")
    print("-" * 100)
    print(f"{'payload':<22} {'bytes':>11}  {'content type':<45} {'offline decision'}")
    for p in payloads:
        print(f"{p.name:<22} {len(p.body):>11,}  {p.content_type[:45]:<45} {p.offline}"
              + ("" if p.offline.startswith(p.expect) else f"   (expected {p.expect}!)"))
    print()


def bench_throughput(plain: Mitmdump, addon: Mitmdump, upstream: Upstream, small: list[Payload], s: Settings,
                     ca: Path) -> list[tuple[str, float, float]]:
    print(f"1. Throughput, small posts, no findings ({s.threads} keep-alive client threads; {s.pairs} pairs of "
          f"{s.phase_s:g} s phases, plain and addon back to back in ABBA order, {s.settle_s:g} s settling after "
          f"each switch)")
    print("-" * 100)
    print("ratio = addon req/s / plain req/s in each pair; the median of the pairs counts (90% bootstrap interval "
          "beside it). 'CPU/req' = mitmdump's CPU time per request over all phases (schedstat); 'CPU ratio' = "
          "plain / addon, the throughput ratio of a proxy-bound machine")
    print(f"{'payload':<12} {'scheme':<6} {'plain req/s':>11} {'addon req/s':>11} {'ratio':>7} {'90% interval':>13} "
          f"{'pooled':>7} {'CPU/req plain':>14} {'CPU/req addon':>14} {'CPU ratio':>9} {'errors':>6}  "
          f"paired ratios p10 p25 p75 p90")
    tls = ssl.create_default_context(cafile=str(ca))
    ratios = []
    for payload, ctx in [(p, None) for p in small] + [(small[0], tls)]:
        scheme = "https" if ctx else "http"
        phases = alternate((plain, addon), upstream, payload, s, ctx)
        p_ph, a_ph = phases["plain"], phases["addon"]
        paired = [a.rps / p.rps for p, a in zip(p_ph, a_ph) if p.rps]
        ratio = percentile(paired, 50)
        lo, hi = median_interval(paired)
        pooled = sum(a.ok for a in a_ph) / sum(a.seconds for a in a_ph) / (sum(p.ok for p in p_ph) /
                                                                             sum(p.seconds for p in p_ph))
        p_cpu, a_cpu = (sum(x.cpu_ns for x in ph) / 1e3 / max(1, sum(x.ok for x in ph)) for ph in (p_ph, a_ph))
        errors = sum(x.errors for x in p_ph + a_ph)
        print(f"{payload.name:<12} {scheme:<6} {percentile([p.rps for p in p_ph], 50):>11.0f} "
              f"{percentile([a.rps for a in a_ph], 50):>11.0f} {ratio:>7.3f} {f'{lo:.3f}..{hi:.3f}':>13} "
              f"{pooled:>7.3f} {p_cpu:>11.0f} µs {a_cpu:>11.0f} µs {p_cpu / a_cpu:>9.3f} {errors:>6}  "
              + " ".join(f"{percentile(paired, q):.2f}" for q in (10, 25, 75, 90)))
        if ctx is None:
            ratios.append((payload.name, ratio, p_cpu / a_cpu))
    for name, ratio, cpu_ratio in ratios:
        print(f"target: throughput addon/plain >= {TARGET_RATIO} ({name}, http, req/s) ... {ratio:.3f}  "
              f"{verdict(ratio >= TARGET_RATIO)}")
        print(f"target: throughput addon/plain >= {TARGET_RATIO} ({name}, http, mitmdump CPU/req) ... {cpu_ratio:.3f}  "
              f"{verdict(cpu_ratio >= TARGET_RATIO)}")
    print()
    return ratios


def bench_latency(plain: Mitmdump, addon: Mitmdump, upstream: Upstream, photos: list[Payload], s: Settings) -> float:
    print(f"2. Latency of one photo upload (multipart; {s.uploads} uploads each way after {s.upload_warmup} warm-up, "
          f"plain and addon alternating, each on its own keep-alive connection)")
    print("-" * 100)
    print(f"{'payload':<22} {'proxy':<6} {'n':>4} {'err':>4} {'p50':>11} {'p90':>11} {'p99':>11} {'max':>11} "
          f"{'CPU/upload':>11} {'upstream got':>13}")
    added_gps_p50 = float("nan")
    rows = []
    for payload in photos:
        res = upload_series([plain, addon], upstream, payload, s.uploads, s.upload_warmup, s.latency_deadline_s)
        for label, u in res.items():
            changed = sum(r != payload.crc for r in u.received)
            print(f"{payload.name:<22} {label:<6} {len(u.times):>4} {u.errors:>4} {ms(percentile(u.times, 50))} "
                  f"{ms(percentile(u.times, 90))} {ms(percentile(u.times, 99))} {ms(max(u.times or [0]))} "
                  f"{ms(u.cpu_s / max(1, len(u.times)))} {'as sent' if not changed else f'{changed} changed':>13}")
        p, a = res["plain"], res["addon"]
        d50 = percentile(a.times, 50) - percentile(p.times, 50)
        d99 = percentile(a.times, 99) - percentile(p.times, 99)
        paired = percentile([x - y for x, y in zip(a.times, p.times)], 50)
        cpu = a.cpu_s / max(1, len(a.times)) - p.cpu_s / max(1, len(p.times))
        if payload.expect == "sanitise":
            ok = bool(a.received) and all(r != payload.crc for r in a.received)
            what = "GPS blanked in every upload: sanitised" if ok else "NOT sanitised in every upload!"
        else:
            ok = bool(a.received) and all(r == payload.crc for r in a.received)
            what = "every byte as sent" if ok else "changed!"
        if not (p.received and all(r == payload.crc for r in p.received)):
            what += "  (plain mitmdump changed it!)"
        rows.append((payload, d50, d99, paired, cpu, what))
        if payload.expect == "sanitise" and payload.name.startswith("photo 5 MB"):
            added_gps_p50 = d50
    print()
    print(f"{'payload':<22} {'sent':>12} {'added p50':>11} {'added p99':>11} {'paired p50':>11} {'added CPU':>11}  "
          f"through the addon, the upstream got")
    for payload, d50, d99, paired, cpu, what in rows:
        print(f"{payload.name:<22} {len(payload.body):>10,} B {ms(d50)} {ms(d99)} {ms(paired)} {ms(cpu)}  {what}")
    print("(paired p50: median of addon minus plain over consecutive uploads; added CPU: mitmdump CPU per upload)")
    print(f"target: added p50 for the 5 MB GPS photo < {TARGET_ADDED_P50_S * 1e3:.0f} ms ... "
          f"{added_gps_p50 * 1e3:.2f} ms  {verdict(added_gps_p50 < TARGET_ADDED_P50_S)}")
    print()
    return added_gps_p50


def bench_memory(work: Path, confdir: Path, addon_args: list[str], upstream: Upstream, photo: Payload,
                 s: Settings) -> float:
    print(f"3. Memory: a fresh mitmdump through {s.memory_uploads} sequential uploads of "
          f"{len(photo.body) / 1e6:.1f} MB ({photo.name}); VmRSS sampled every 20 ms")
    print("-" * 100)
    print(f"{'proxy':<6} {'uploads':>7} {'err':>4} {'RSS before':>11} {'peak (sampled)':>15} {'VmHWM':>10} "
          f"{'RSS after':>10} {'p50 upload':>11} {'wall':>8}")
    peak_addon, bad = float("nan"), []
    for label, args in (("addon", addon_args), ("plain", None)):
        proxy = Mitmdump(label, work, confdir, args, upstream)
        try:
            time.sleep(0.3)
            before = proc_status(proxy.pid, "VmRSS")
            peak, stop = [before], threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], proc_status(proxy.pid, "VmRSS"))
                    stop.wait(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            t0 = time.perf_counter()
            try:
                u = upload_series([proxy], upstream, photo, s.memory_uploads, 0, s.memory_deadline_s)[label]
            finally:
                stop.set()
                sampler.join(5)
            wall = time.perf_counter() - t0
            time.sleep(0.5)
            after, hwm = proc_status(proxy.pid, "VmRSS"), proc_status(proxy.pid, "VmHWM")
            peak_mb = max(peak[0], hwm) / 1024
            if label == "addon":
                peak_addon = peak_mb
                bad = [r for r in u.received if r == photo.crc]
            print(f"{label:<6} {len(u.times):>7} {u.errors:>4} {before / 1024:>8.1f} MB {peak[0] / 1024:>12.1f} MB "
                  f"{hwm / 1024:>7.1f} MB {after / 1024:>7.1f} MB {ms(percentile(u.times, 50))} {wall:>6.1f} s")
        finally:
            proxy.stop()
    if bad:
        print(f"warning: {len(bad)} of the addon's uploads reached the upstream unsanitised")
    print(f"target: peak RSS of mitmdump with the addon < {TARGET_PEAK_RSS_MB} MB ... {peak_addon:.1f} MB  "
          f"{verdict(peak_addon < TARGET_PEAK_RSS_MB)}")
    print()
    return peak_addon


def bench_pac(work: Path) -> bool:
    from rules import load_pack
    from rules.platforms import pac

    print(f"4. PAC file: rules.platforms.pac(load_pack('default').hosts, '{PAC_PROXY}') evaluated by node")
    print("-" * 100)
    hosts = load_pack("default").hosts
    script = work / "pac-check.js"
    script.write_text(
        "function dnsDomainIs(host, domain) {\n"
        "  return host.length >= domain.length && host.substring(host.length - domain.length) === domain;\n}\n"
        + pac(hosts, PAC_PROXY)
        + "\nconst hosts = JSON.parse(process.argv[2]);\n"
          "console.log(JSON.stringify(hosts.map(h => [h, FindProxyForURL('https://' + h + '/', h)])));\n")
    try:
        out = subprocess.run(["node", str(script), json.dumps(list(PAC_HOSTS))], capture_output=True, text=True,
                             timeout=30)
        answers = dict(json.loads(out.stdout)) if out.returncode == 0 else {}
        problem = out.stderr.strip()[-500:] if out.returncode else ""
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        answers, problem = {}, str(exc)
    if problem:
        print(f"node failed: {problem}")
    print(f"{'host':<28} {'expected':<24} {'FindProxyForURL':<24} ok")
    all_ok = bool(answers)
    for host, through in PAC_HOSTS.items():
        expected = f"PROXY {PAC_PROXY}" if through else "DIRECT"
        got = answers.get(host, "?")
        all_ok &= got == expected
        print(f"{host:<28} {expected:<24} {got:<24} {'yes' if got == expected else 'NO'}")
    print(f"({len(hosts)} hosts in the default pack)")
    print(f"target: in-scope hosts PROXY, out-of-scope hosts DIRECT ... {verdict(all_ok)}")
    print()
    return all_ok


def print_log_check(db: Path, upstream: Upstream, addon: Mitmdump) -> None:
    print("Addon sanity")
    print("-" * 100)
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT decision, rule, count(*) FROM events GROUP BY decision, rule").fetchall()
        print("monitoring log events: " + (", ".join(f"{d} {r} x{n}" for d, r, n in rows) or "none"))
    except sqlite3.Error as exc:
        print(f"monitoring log: cannot read {db}: {exc}")
    stats = upstream.stats()
    print(f"upstream: {stats['requests']} posts received ({stats['bytes'] / 1e6:.0f} MB), "
          f"{stats['notices']} 'sanitised' notices to the stand-in local service")
    errs = addon.errors()
    print(f"addon mitmdump log: {len(errs)} error lines" + (f"; first: {errs[0][:150]}" if errs else ""))
    print()


# ---------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (well under a minute)")
    parser.add_argument("--threads", type=int, help="client threads for the throughput runs")
    args = parser.parse_args()
    s = QUICK if args.quick else Settings()
    if args.threads:
        s.threads = max(1, args.threads)
    started = time.perf_counter()
    print_header(s, args.quick)

    results = {}
    with tempfile.TemporaryDirectory(prefix="postguard-proxy-bench-") as tmp:
        work = Path(tmp)
        confdir, data_dir = work / "mitmproxy", work / "data"
        confdir.mkdir()
        data_dir.mkdir(mode=0o700)
        config_path, db = work / "config.toml", work / "events.sqlite3"
        config_path.write_text(f"data_dir = {json.dumps(str(data_dir))}\n")
        addon_args = ["--set", "postguard_scope=all", "--set", f"postguard_config={config_path}",
                      "--set", f"postguard_database=sqlite:///{db}"]

        small = small_payloads()
        photos = list(photo_payloads())
        check_offline(small + photos, config_path)
        print_payloads(small + photos)

        upstream = plain = addon = None
        try:
            upstream = Upstream(work)
            plain = Mitmdump("plain", work, confdir, None, upstream)  # creates the CA in confdir first
            addon = Mitmdump("addon", work, confdir, addon_args, upstream)
            results["ratios"] = bench_throughput(plain, addon, upstream, small, s, confdir / "mitmproxy-ca-cert.pem")
            results["p50"] = bench_latency(plain, addon, upstream, photos[:2], s)
            print_log_check(db, upstream, addon)
            plain.stop()
            addon.stop()
            results["rss"] = bench_memory(work, confdir, addon_args, upstream, photos[2], s)
        except Exception as exc:  # report and carry on: a benchmark never fails the build
            print(f"ERROR: {type(exc).__name__}: {exc}")
        finally:
            for proc in (plain, addon):
                if proc is not None:
                    proc.stop()
            if upstream is not None:
                upstream.stop()
        results["pac"] = bench_pac(work)

    print("Summary")
    print("-" * 100)
    for name, ratio, cpu_ratio in results.get("ratios", []):
        print(f"target: throughput addon/plain >= {TARGET_RATIO} ({name}, req/s) ... {ratio:.3f}  "
              f"{verdict(ratio >= TARGET_RATIO)}")
        print(f"target: throughput addon/plain >= {TARGET_RATIO} ({name}, CPU/req) ... {cpu_ratio:.3f}  "
              f"{verdict(cpu_ratio >= TARGET_RATIO)}")
    if "p50" in results:
        print(f"target: added p50, 5 MB GPS photo < {TARGET_ADDED_P50_S * 1e3:.0f} ms ... {results['p50'] * 1e3:.2f} ms"
              f"  {verdict(results['p50'] < TARGET_ADDED_P50_S)}")
    if "rss" in results:
        print(f"target: peak RSS with the addon < {TARGET_PEAK_RSS_MB} MB ... {results['rss']:.1f} MB  "
              f"{verdict(results['rss'] < TARGET_PEAK_RSS_MB)}")
    print(f"target: PAC in scope PROXY, out of scope DIRECT ... {verdict(results.get('pac', False))}")
    print(f"total time {time.perf_counter() - started:.1f} s; load average at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
