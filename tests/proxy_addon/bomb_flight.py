"""Decompression bombs in flight through a real `mitmdump -s proxy_addon/addon.py` process on loopback: shared by
tests/proxy_addon/test_bomb_flight.py (which asserts) and bench/bomb_bench.py (which times and prints).

Each bomb is a few hundred kilobytes of nested Content-Encoding (gzip inside gzip, brotli inside gzip, gzip inside
brotli) over 128 KB of random bytes and 128 MB of zeros. The random bytes make each body large enough that the
proxy's cap is the full 64 MB (MAX_DECODED; a smaller body is refused sooner, at MAX_RATIO times its size): the
worst case for the proxy's memory. The bombs are made a megabyte at a time, never held expanded here either.
"""
from __future__ import annotations

import http.client
import random
import socket
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parents[2]
ENCODINGS = ("gzip, gzip", "br, gzip", "gzip, br")  # in the order applied, as Content-Encoding lists them
SMALL = b'{"status": "Lovely day at the farm with Year 2", "visibility": "friends"}'


def _stage(coding: str):
    if coding == "gzip":
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        return c.compress, c.flush
    if coding == "br":
        c = brotli.Compressor(quality=4)
        return c.process, c.finish
    raise ValueError(coding)


def bomb(encoding: str, zeros_mb: int = 128, random_kb: int = 128, seed: int = 14) -> bytes:
    """A body whose `encoding` layers expand to `random_kb` KB of noise and `zeros_mb` MB of zeros."""
    stages = [_stage(c.strip()) for c in encoding.split(",")]
    out: list[bytes] = []

    def feed(i: int, data: bytes) -> None:
        if i == len(stages):
            out.append(data)
        elif data:
            feed(i + 1, stages[i][0](data))

    feed(0, random.Random(seed).randbytes(random_kb << 10))
    chunk = bytes(1 << 20)
    for _ in range(zeros_mb):
        feed(0, chunk)
    for i, (_, flush) in enumerate(stages):  # each layer's tail goes through the layers after it
        feed(i + 1, flush())
    return b"".join(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid: int, key: str) -> int:
    """A /proc/<pid>/status field in kB (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Mitmdump:
    """`mitmdump -s proxy_addon/addon.py` on a free loopback port, every host in scope (the site is 127.0.0.1), its
    own config, data folder and monitoring log under `work`."""

    def __init__(self, work: Path, budget_s: float = 5.0):
        work.mkdir(parents=True, exist_ok=True)
        self.db = work / "data" / "events.sqlite3"
        config = work / "config.toml"
        config.write_text(f'data_dir = "{work / "data"}"\n[proxy]\ninspection_budget_s = {budget_s}\n')
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("mitmdump")), "-q", "--listen-host", "127.0.0.1", "--listen-port",
             str(self.port), "--set", f"confdir={work / 'mitm'}", "-s", str(ROOT / "proxy_addon" / "addon.py"),
             "--set", f"postguard_config={config}", "--set", "postguard_scope=all",
             "--set", "postguard_service=http://127.0.0.1:9"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mitmdump exited: {self.proc.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("mitmdump did not listen within 30 s") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class Round:
    bomb_status: list[int] = field(default_factory=list)
    bomb_s: list[float] = field(default_factory=list)  # each bomb: sent to answered
    small_status: int = 0
    small_s: float = float("nan")  # the small post, sent while the bombs were in flight: sent to answered
    small_first: bool = False  # the small post was answered before the last bomb
    peak_rss_kb: int = 0  # VmRSS sampled every 5 ms during the round


def _post(port: int, target: str, body: bytes, headers: dict, timeout: float) -> tuple[int, float]:
    """POST through the proxy (absolute-form, plain HTTP): (status, seconds to the answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        t = time.perf_counter()
        conn.request("POST", target, body=body, headers={"Content-Length": str(len(body)), **headers})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - t
    finally:
        conn.close()


def in_flight(proxy: Mitmdump, site: str, bombs: dict[str, bytes], timeout: float = 60) -> Round:
    """The bombs posted at once, each on its own connection; as soon as all are on their way, a small JSON post.
    RSS is sampled throughout."""
    result, done, sampling = Round(), [], threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            result.peak_rss_kb = max(result.peak_rss_kb, status_kb(proxy.pid, "VmRSS"))
            sampling.wait(0.005)

    sent = threading.Barrier(len(bombs) + 1)
    answers: dict[str, tuple[int, float]] = {}

    def send(n: int, encoding: str, body: bytes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
        try:
            conn.putrequest("POST", f"{site}/api/post/{n}", skip_accept_encoding=True)
            for k, v in (("Content-Type", "application/json"), ("Content-Encoding", encoding),
                         ("Content-Length", str(len(body)))):
                conn.putheader(k, v)
            t = time.perf_counter()
            conn.endheaders(body)
            sent.wait(timeout)
            resp = conn.getresponse()
            resp.read()
            answers[encoding] = (resp.status, time.perf_counter() - t)
            done.append(time.perf_counter())
        finally:
            conn.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=send, args=(n, *item), daemon=True) for n, item in enumerate(bombs.items())]
    try:
        for t in threads:
            t.start()
        sent.wait(timeout)  # every bomb's body is written to the proxy
        result.small_status, result.small_s = _post(proxy.port, f"{site}/api/status", SMALL,
                                                    {"Content-Type": "application/json"}, timeout)
        small_done = time.perf_counter()
        for t in threads:
            t.join(timeout)
    finally:
        sampling.set()
        sampler.join(5)
    result.small_first = bool(done) and small_done < max(done)
    result.bomb_status = [answers.get(e, (0, 0.0))[0] for e in bombs]
    result.bomb_s = [answers.get(e, (0, float("nan")))[1] for e in bombs]
    return result
