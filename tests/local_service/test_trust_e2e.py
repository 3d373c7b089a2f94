"""Issue 15's acceptance with real parts: a real `postguard server run` process (gunicorn) on a real PostgreSQL
server, laptops with their own data folders forwarding over real HTTP through a TCP proxy that cuts connections, and
the server killed (SIGKILL, the whole process group) and restarted mid-forward 20 times. Nothing lost, nothing
duplicated, every device's record intact, and the command line as deployment scripts use it."""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from local_service import forwarder
from rules.config import load_config, parse_config
from rules.record.events import Event
from rules.record.store import open_store
from tests import pgserver
from tests.tcp_cutter import TcpCutter

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not pgserver.available(), reason="needs Debian's postgresql package (initdb)")


def postguard(*args, check=True):
    run = subprocess.run([sys.executable, "-m", "local_service.cli", *args], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    if check:
        assert run.returncode == 0, run.stdout + run.stderr
    return run


class ServerProcess:
    def __init__(self, config: Path, database: str, port: int = 0):
        self.config, self.database, self.port = config, database, port
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "local_service.cli", "server", "run", "--config",
                                      str(self.config), "--database", self.database, "--port", str(self.port),
                                      "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, cwd=ROOT, start_new_session=True)
        line = self.proc.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        self.port = int(line.rsplit(":", 1)[1])

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def trust(tmp_path, pg_server):
    database = pg_server.fresh_database(f"trust_{os.getpid()}_{random.randrange(10**6)}").replace(
        "postgresql+psycopg://", "postgresql://")
    config = tmp_path / "server.toml"
    config.write_text(f'data_dir = "{tmp_path / "server"}"\n')
    postguard("server", "init", "--config", str(config), "--database", database)
    server = ServerProcess(config, database)
    server.start()
    yield server
    server.stop()


def laptop(tmp_path, name):
    folder = tmp_path / name
    config_file = tmp_path / f"{name}.toml"
    config_file.write_text(f'data_dir = "{folder}"\n\n[forward]\ntimeout_s = 5.0\nretry_cap_s = 1.0\n')
    return config_file


def add_events(config_file, n, user):
    store = open_store(load_config(config_file))
    store.append([Event(rule="location.gps", decision="warned", user=user, evidence={"lat": 53.4, "lon": -1.5})
                  for _ in range(n)])
    store.close()


def test_cli_enrol_forward_events_verify_and_a_rotated_secret(trust, tmp_path):
    config, db = str(trust.config), trust.database
    secret = json.loads(postguard("server", "school", "add", "St Mary", "--json", "--config", config,
                                  "--database", db).stdout)["secret"]
    assert postguard("server", "school", "add", "St Mary", "--config", config, "--database", db,
                     check=False).returncode == 2
    url = f"http://127.0.0.1:{trust.port}"
    a, b = laptop(tmp_path, "a"), laptop(tmp_path, "b")
    add_events(a, 5, "amy")
    add_events(b, 7, "ben")
    postguard("enrol", url, "--secret", secret, "--name", "laptop-a", "--config", str(a))
    rotated = json.loads(postguard("server", "school", "rotate", "St Mary", "--json", "--config", config,
                                   "--database", db).stdout)["secret"]
    refused = postguard("enrol", url, "--secret", secret, "--name", "laptop-b", "--config", str(b), check=False)
    assert refused.returncode == 1 and "not valid" in refused.stderr
    postguard("enrol", url, "--secret", rotated, "--name", "laptop-b", "--config", str(b))
    assert "enrolled with" in postguard("enrol", "--status", "--config", str(a)).stdout
    for lap in (a, b):
        assert postguard("forward", "--once", "--config", str(lap)).returncode == 0
    lines = [json.loads(x) for x in postguard("server", "events", "--config", config, "--database",
                                              db).stdout.splitlines()]
    assert sorted((x["device_name"], x["seq"]) for x in lines) == sorted(
        [("laptop-a", i) for i in range(1, 6)] + [("laptop-b", i) for i in range(1, 8)])
    assert all(x["device"] and x["school"] == "St Mary" for x in lines)
    verify = postguard("server", "verify", "--config", config, "--database", db)
    assert "laptop-a" in verify.stdout and verify.stdout.count(", ok") == 2


def test_killed_20_times_and_cut_off_nothing_is_lost_or_duplicated(trust, tmp_path):
    config, db = str(trust.config), trust.database
    secret = json.loads(postguard("server", "school", "add", "St Mary", "--json", "--config", config,
                                  "--database", db).stdout)["secret"]
    cutter = TcpCutter(trust.port, cut=0.3)
    url = f"http://127.0.0.1:{cutter.port}"
    laptops = []
    for name in ("a", "b"):
        cfg = laptop(tmp_path, name)
        cutter.down, cutter.cut = False, 0.0
        postguard("enrol", url, "--secret", secret, "--name", f"laptop-{name}", "--config", str(cfg))
        config_obj = parse_config({"data_dir": str(load_config(cfg).data_dir),
                                   "forward": {"timeout_s": 5.0, "retry_cap_s": 1.0}})
        laptops.append((cfg, config_obj))
    cutter.cut = 0.3
    total = {"a": 0, "b": 0}
    kills, stop = 0, threading.Event()
    rng = random.Random(7)

    def killer():
        nonlocal kills
        while kills < 20 and not stop.is_set():
            time.sleep(rng.uniform(0.2, 1.2))
            trust.kill()
            kills += 1
            time.sleep(rng.uniform(0.0, 0.5))
            trust.start()

    def forward_loop(cfg, config_obj, name):
        store = open_store(config_obj)
        f = forwarder.Forwarder(config_obj, store)
        try:
            while not stop.is_set():
                store.append([Event(rule="location.gps", decision="warned", user=name) for _ in range(120)])
                total[name] += 120
                try:
                    f.forward_all(within_s=2)
                except forwarder.ForwardError:
                    pass
        finally:
            store.close()

    threads = [threading.Thread(target=killer)] + [
        threading.Thread(target=forward_loop, args=(cfg, c, n)) for (cfg, c), n in zip(laptops, ("a", "b"))]
    for t in threads:
        t.start()
    threads[0].join(timeout=300)
    stop.set()
    for t in threads[1:]:
        t.join(timeout=120)
    assert kills == 20
    cutter.cut = 0.0
    for cfg, _ in laptops:  # what is still waiting goes now, over a network that works
        assert postguard("forward", "--once", "--config", str(cfg)).returncode == 0
    lines = [json.loads(x) for x in postguard("server", "events", "--config", config, "--database",
                                              db).stdout.splitlines()]
    per_device = {}
    for x in lines:
        per_device.setdefault(x["device_name"], []).append(x["seq"])
    assert {k: len(v) for k, v in per_device.items()} == {"laptop-a": total["a"], "laptop-b": total["b"]}
    for seqs in per_device.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))  # each once, none missing
    assert len({x["id"] for x in lines}) == len(lines)
    assert cutter.cuts > 0
    verify = postguard("server", "verify", "--config", config, "--database", db)
    assert verify.stdout.count(", ok") == 2, verify.stdout
    cutter.close()


def test_port_zero_prints_the_port_it_accepts_on(trust):
    with socket.create_connection(("127.0.0.1", trust.port), timeout=5):
        pass


def test_postguard_run_forwards_continuously(trust, tmp_path):
    from .test_commands import start_run

    config, db = str(trust.config), trust.database
    secret = json.loads(postguard("server", "school", "add", "Mill Lane", "--json", "--config", config,
                                  "--database", db).stdout)["secret"]
    lap = tmp_path / "run.toml"
    lap.write_text(f'data_dir = "{tmp_path / "run"}"\n\n[forward]\ninterval_s = 1.0\n')
    add_events(lap, 1, "amy")  # the record begins (and its verification key is written) before enrolment
    postguard("enrol", f"http://127.0.0.1:{trust.port}", "--secret", secret, "--name", "laptop-run",
              "--config", str(lap))
    proc, _service, _proxy = start_run(lap)
    try:
        add_events(lap, 4, "amy")  # written by another process: the next round of the forwarding loop sends it
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            held = postguard("server", "events", "--config", config, "--database", db).stdout.splitlines()
            if len(held) >= 5:
                break
            time.sleep(1)
        assert len(held) == 5
        device = [d for d in map(json.loads, postguard("server", "device", "list", "--config", config,
                                                       "--database", db).stdout.splitlines())
                  if d["name"] == "laptop-run"][0]
        assert device["health"]["pack"] and device["health"]["backlog"] >= 0 and "proxy" in device["health"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
