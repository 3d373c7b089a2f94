"""`postguard log verify`, `log purge`, `admin set-password` and `run`, as an admin would use them."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from local_service.cli import main
from rules.record.events import Event
from rules.record.store import Store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[school]\nname = "Test School"\n')
    return path


def db(tmp_path) -> Path:
    return tmp_path / "data" / "events.sqlite3"


def start_run(config_file, umask: int | None = None):
    """A real `postguard run` process on free ports; (process, service port, proxy port) once it says it serves."""
    code = ("import os, sys\n" + (f"os.umask({umask:#o})\n" if umask is not None else "") +
            "from local_service.cli import main\nsys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "run", "--config", str(config_file), "--service-port", "0",
                             "--proxy-port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = proc.stdout.readline()
    if "http://127.0.0.1:" not in line:
        proc.kill()
        raise AssertionError(proc.stderr.read())
    return proc, int(line.split("http://127.0.0.1:")[1].split("/")[0]), int(
        line.split("proxy on 127.0.0.1:")[1].split(",")[0])


def test_log_verify_detects_a_changed_and_a_deleted_row(tmp_path, config_file, capsys):
    store = Store(f"sqlite:///{db(tmp_path)}")
    store.append([Event(rule="location.gps", decision="warned", user=f"u{i}") for i in range(10)])
    store.close()
    assert main(["log", "verify", "--config", str(config_file)]) == 0
    assert "ok: 10 events" in capsys.readouterr().out
    with sqlite3.connect(db(tmp_path)) as conn:
        conn.execute("UPDATE events SET user = 'nobody' WHERE seq = 4")
    assert main(["log", "verify", "--config", str(config_file)]) == 1
    assert "BROKEN at event 4" in capsys.readouterr().out
    with sqlite3.connect(db(tmp_path)) as conn:
        conn.execute("UPDATE events SET user = 'u3' WHERE seq = 4")
        conn.execute("DELETE FROM events WHERE seq = 7")
    assert main(["log", "verify", "--config", str(config_file)]) == 1
    assert "BROKEN at event 8" in capsys.readouterr().out


def test_init_creates_a_private_token(tmp_path, capsys):
    cfg = tmp_path / "c" / "config.toml"
    assert main(["init", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    token = Path(out.split("extension token: ")[1].split(" ")[0])
    assert token.exists() and oct(token.stat().st_mode & 0o777) == "0o600"
    assert oct(token.parent.stat().st_mode & 0o777) == "0o700"


def test_run_serves_on_loopback_and_stops_cleanly_on_sigterm(tmp_path, config_file):
    proc = subprocess.Popen([sys.executable, "-m", "local_service.cli", "run", "--config", str(config_file),
                             "--service-port", "0", "--proxy-port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, proc.stderr.read()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        proxy_port = int(line.split("proxy on 127.0.0.1:")[1].split(",")[0])
        pac = urllib.request.urlopen(f"http://127.0.0.1:{port}/proxy.pac", timeout=5).read().decode()
        assert f"PROXY 127.0.0.1:{proxy_port}" in pac and '"facebook.com"' in pac
        assert oct((tmp_path / "data" / "mitmproxy" / "mitmproxy-ca.pem").stat().st_mode & 0o777) == "0o600"
        token = (tmp_path / "data" / "token").read_text().strip()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/health",
                                     headers={"Authorization": f"Bearer {token}"})
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    status = resp.status
                break
            except urllib.error.HTTPError as exc:
                status = exc.code
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "stopped" in proc.stdout.read()
        assert (tmp_path / "data" / "postguard.log").exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ca_key_is_private_and_instructions_name_the_pac(tmp_path, config_file, capsys):
    assert main(["ca", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "data" / "mitmproxy"
    assert oct((folder / "mitmproxy-ca.pem").stat().st_mode & 0o777) == "0o600"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert "http://127.0.0.1:8765/proxy.pac" in out and str(folder / "mitmproxy-ca-cert.pem") in out


def test_kill_9_of_the_service_during_a_burst_loses_no_acknowledged_event(tmp_path, config_file):
    """10,000 events posted to the running service in batches of 50; kill -9 it mid-burst; every event whose
    batch was acknowledged is in the log, and the chain still verifies."""
    import json

    proc = subprocess.Popen([sys.executable, "-m", "local_service.cli", "run", "--config", str(config_file),
                             "--service-port", "0", "--proxy-port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    acknowledged = []
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, proc.stderr.read()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        token = (tmp_path / "data" / "token").read_text().strip()
        import threading

        def killer():  # kills while the client keeps writing, so a batch may be cut mid-write
            while len(acknowledged) < 3000 and proc.poll() is None:
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)

        threading.Thread(target=killer, daemon=True).start()
        for batch in range(200):
            events = [Event(rule="location.gps", decision="sanitised", user="burst", source="proxy").to_dict()
                      for _ in range(50)]
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/events", method="POST",
                                         data=json.dumps({"events": events}).encode(),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                acknowledged += json.loads(resp.read())["ids"]
    except OSError:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert len(acknowledged) >= 3000
    store = Store(f"sqlite:///{db(tmp_path)}")
    try:
        stored = {r["id"] for r in store.iter_all()}
        assert set(acknowledged) <= stored
        assert store.verify().ok
    finally:
        store.close()


def test_status_shows_the_network_verdict_and_the_pack(config_file, capsys):
    # 1: this test laptop's setup is not in order (no proxy CA yet); the exit says so (test_deploy_status.py)
    assert main(["status", "--config", str(config_file), "--network", "on"]) == 1
    out = capsys.readouterr().out
    assert "school network: on (set by --network)" in out and "policy pack:" in out


def test_roster_import_keeps_no_readable_names(tmp_path, config_file, capsys):
    export = tmp_path / "sims.csv"
    export.write_text("Legal Surname,Legal Forename,Year\nOkonkwo,Chidinma,5\nBrown-Smith,Zoë,6\n", encoding="utf-8")
    assert main(["roster", "import", "--config", str(config_file), str(export)]) == 0
    assert "Imported 2 pupils" in capsys.readouterr().out
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("roster*"))
    assert b"Okonkwo" not in stored and b"okonkwo" not in stored and "Zoë".encode() not in stored
    assert main(["roster", "import", "--config", str(config_file), str(tmp_path / "missing.csv")]) == 2


def test_health_says_the_proxy_is_active_under_postguard_run_after_a_post_went_through_it(tmp_path, config_file):
    """The extension's popup reads /api/v1/health to tell staff whether protection is on: under `postguard run` the
    proxy runs in the service's process and must be reported active (it was once always "proxy": false)."""
    import http.server
    import json
    import threading

    received = []

    class Site(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    proc, port, proxy_port = start_run(config_file)
    try:
        through_proxy = urllib.request.build_opener(urllib.request.ProxyHandler(
            {"http": f"http://127.0.0.1:{proxy_port}"}))
        reply = through_proxy.open(urllib.request.Request(f"http://127.0.0.1:{site.server_port}/post",
                                                          data=b"status=hello", method="POST"), timeout=10)
        assert reply.read() == b"ok" and received == [b"status=hello"]  # it really went through the proxy
        token = (tmp_path / "data" / "token").read_text().strip()
        health = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/health",
                                        headers={"Authorization": f"Bearer {token}"})
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(health, timeout=5) as resp:
                body = json.loads(resp.read())
            if body["proxy"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert body["proxy"] is True, body
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        site.shutdown()


def test_run_leaves_every_file_it_creates_to_its_owner_only_whatever_existed_before(tmp_path, config_file):
    """Other accounts on the laptop read event rows from the WAL when the data folder already existed (0755) and the
    umask was 022: the database, its -wal and -shm, the log and the keys are 0600 in a 0700 folder."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "postguard.log").write_text("an older log\n")
    (data / "postguard.log").chmod(0o644)
    proc, port, _ = start_run(config_file, umask=0o022)
    try:
        token = (data / "token").read_text().strip()
        body = b'{"check_id": "x", "choice": "cancel"}'
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/decision", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=5)
        except urllib.error.HTTPError:
            pass  # an unknown check: what matters is that the store was opened and written around
        names = {f.name for f in data.iterdir()}
        assert {"events.sqlite3", "events.sqlite3-wal", "events.sqlite3-shm", "postguard.log", "token"} <= names
        assert oct(data.stat().st_mode & 0o777) == "0o700"
        for f in data.iterdir():
            if f.is_file():
                assert oct(f.stat().st_mode & 0o777) == "0o600", f
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
