"""A real package: the wheel `pip install .` (or pipx) installs gives the `postguard` command with its data and no test
tooling; the PyInstaller bundle `make dist` builds runs `--version`, `scan`, `deploy` and `run` with no venv and no
Python on the PATH."""
from __future__ import annotations

import email
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from local_service.about import version

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "postguard" / "postguard"
CORPUS = Path(os.environ.get("POSTGUARD_CORPUS", ROOT.parent / "shared" / "corpus" / "metadata"))
TEST_TOOLS = {"pytest", "hypothesis", "playwright", "scikit-image", "imagehash", "aiosmtpd", "fpdf2", "jsonschema",
              "pyinstaller"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                        str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (found,) = out.glob("postguard-*.whl")
    return found


def test_wheel_has_the_command_its_data_and_no_test_tooling(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        metadata = email.message_from_bytes(z.read(meta))
        entry_points = z.read(entry).decode()
    assert metadata["Version"] == version()
    assert "postguard = local_service.cli:main" in entry_points
    for data in ("local_service/deploy_templates/linux/install.sh", "local_service/deploy_templates/windows/install.ps1",
                 "rules/packs/default.toml", "rules/record/migrations/env.py"):
        assert data in names, data
    assert not any(n.startswith("tests/") for n in names)
    required = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
    names_required = {r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
                      for r in required}
    assert not names_required & TEST_TOOLS, names_required & TEST_TOOLS


def _clean_env(tmp_path: Path) -> dict:
    """No venv, no Python: PATH holds only the system's basic tools, and not one python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("sh", "cat", "ls"):
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bin_dir / tool)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": str(bin_dir), "HOME": str(home), "LANG": "C.UTF-8"}


needs_bundle = pytest.mark.skipif(not BUNDLE.exists(), reason="no bundle: `make dist` builds dist/postguard/")


@needs_bundle
def test_bundle_runs_version_with_no_python(tmp_path):
    env = _clean_env(tmp_path)
    assert not any((Path(env["PATH"]) / name).exists() for name in ("python", "python3"))
    r = subprocess.run([str(BUNDLE), "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"postguard {version()}", r.stderr


@needs_bundle
def test_bundle_scans_a_gps_photo(tmp_path):
    photos = sorted(CORPUS.rglob("*.jpg")) if CORPUS.is_dir() else []
    if not photos:
        pytest.skip(f"no corpus at {CORPUS}")
    env = _clean_env(tmp_path)
    found = None
    for photo in photos[:40]:
        r = subprocess.run([str(BUNDLE), "scan", str(photo)], capture_output=True, text=True, env=env, timeout=300)
        line = json.loads(r.stdout)
        if r.returncode == 1 and any(f["rule"] == "location.gps" for f in line["findings"]):
            found = line
            break
        assert r.returncode in (0, 2), r.stderr
    assert found, "no photo with GPS found among the first 40 of the corpus"
    assert found["decision"] in ("sanitise", "warn", "block")


@needs_bundle
def test_bundle_writes_a_deployment(tmp_path):
    env = _clean_env(tmp_path)
    conf = tmp_path / "school.toml"
    conf.write_text('[deploy]\nextension_id = "abcdefghijklmnopabcdefghijklmnop"\n')
    r = subprocess.run([str(BUNDLE), "deploy", "--config", str(conf), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out/linux/install.sh").is_file() and (tmp_path / "out/macos/postguard.mobileconfig").is_file()


@needs_bundle
def test_bundle_runs_the_proxy_and_the_service(tmp_path):
    env = _clean_env(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "config.toml"
    conf.write_text(f'data_dir = "{tmp_path / "data"}"\n[deploy]\nservice_port = {port}\n')
    proc = subprocess.Popen([str(BUNDLE), "run", "--config", str(conf), "--service-port", str(port),
                             "--proxy-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line, deadline = "", time.monotonic() + 180
        while time.monotonic() < deadline and "PostGuard proxy on" not in line:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                line = proc.stdout.readline()
            assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert "PostGuard proxy on 127.0.0.1:" in line, line
        r = subprocess.run([str(BUNDLE), "status", "--config", str(conf)], capture_output=True, text=True, env=env,
                           timeout=120)
        assert "service running: yes" in r.stdout and "proxy certificate: yes" in r.stdout, r.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "PostGuard stopped" in out
    assert (tmp_path / "data/mitmproxy/mitmproxy-ca-cert.pem").is_file()


@pytest.fixture
def shared_tmp():
    """A folder another account can enter (pytest's own are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="postguard-shared-ca-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_bundle
@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0 or not shutil.which("runuser"),
                    reason="needs root to act as the install script and another account")
def test_bundle_runs_as_an_account_with_the_laptops_shared_ca(shared_tmp):
    """As deployed: the install script (root) makes the laptop's CA in [deploy] ca_dir and lets the accounts read it;
    a person's `postguard run` signs with that CA, and leaves it as it found it."""
    tmp_path = shared_tmp
    ca_dir = tmp_path / "ca"
    conf = tmp_path / "config.toml"
    conf.write_text(f'[deploy]\nca_dir = "{ca_dir}"\n')
    conf.chmod(0o644)
    r = subprocess.run([str(BUNDLE), "ca", "--config", str(conf)], capture_output=True, text=True,
                       env=_clean_env(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr
    ca_dir.chmod(0o755)
    for f in ca_dir.iterdir():
        f.chmod(0o644)  # the install scripts give the accounts' group read access; here: everyone
    before = {f.name: f.read_bytes() for f in ca_dir.iterdir()}
    home = tmp_path / "person"
    home.mkdir()
    shutil.chown(home, "nobody")
    proc = subprocess.Popen(["runuser", "-u", "nobody", "--", "env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin",
                             str(BUNDLE), "run", "--config", str(conf), "--service-port", "0", "--proxy-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line, deadline = "", time.monotonic() + 180
        while time.monotonic() < deadline and "PostGuard proxy on" not in line:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                line = proc.stdout.readline()
            assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert "PostGuard proxy on" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert {f.name: f.read_bytes() for f in ca_dir.iterdir()} == before
    assert not (home / ".local/share/postguard/mitmproxy").exists()  # no CA of its own
