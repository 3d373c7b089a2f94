"""A trust server upgraded from before one CA per trust has a schema and schools but no root: `postguard server run`
makes the root before it serves (as `server init` does), so the first laptop to enrol is issued an intermediate
under it without anybody running `server init` again. A real `server run` process (gunicorn) and a real
`postguard enrol` over HTTP."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

from cryptography import x509

from local_service import trust_ca
from tests.local_service.test_trust_e2e import ROOT, add_events, laptop, postguard


def test_server_run_makes_the_missing_root_before_it_serves(tmp_path):
    conf = tmp_path / "server.toml"
    conf.write_text(f'data_dir = "{tmp_path / "srv"}"\n')
    db = f"sqlite:///{tmp_path / 'srv.sqlite3'}"
    # the upgraded server: its schema and a school, made by a command that makes no root
    secret = json.loads(postguard("server", "school", "add", "St Mary", "--json", "--config", str(conf),
                                  "--database", db).stdout)["secret"]
    assert trust_ca.load_root(tmp_path / "srv") is None
    proc = subprocess.Popen([sys.executable, "-m", "local_service.cli", "server", "run", "--config", str(conf),
                             "--database", db, "--port", "0", "--workers", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
    try:
        line = proc.stdout.readline()  # still the first line: the root's note goes to stderr
        assert line.startswith("serving on http://127.0.0.1:"), line or proc.stderr.read()
        root = trust_ca.load_root(tmp_path / "srv")
        assert root is not None  # made before it served
        key, cert = trust_ca.root_paths(tmp_path / "srv")
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        made = cert.read_bytes()
        url = line.split()[-1]
        a = laptop(tmp_path, "a")
        add_events(a, 1, "amy")
        out = postguard("enrol", url, "--secret", secret, "--name", "laptop-a", "--config", str(a)).stdout
        assert "the trust's intermediate, in use" in out, out
        chain = x509.load_pem_x509_certificates((trust_ca.laptop_dir(tmp_path / "a") /
                                                 trust_ca.LAPTOP_CA_FILE).read_bytes())
        chain[0].verify_directly_issued_by(x509.load_pem_x509_certificate(made))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "made the trust's root CA" in err
    # a second start keeps the root it made, and says nothing about it
    second = subprocess.Popen([sys.executable, "-m", "local_service.cli", "server", "run", "--config", str(conf),
                               "--database", db, "--port", "0", "--workers", "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
    try:
        assert second.stdout.readline().startswith("serving on")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        _, err = second.communicate(timeout=30)
    assert "root CA" not in err and cert.read_bytes() == made
