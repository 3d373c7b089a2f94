"""The Linux deployment in real Chromium with no clicks: the policy file and native host manifest postguard deploy
writes, in Chromium's system folders, make a fresh profile force-install the packed extension from a local update
URL, give it its managed settings, connect it to the service with no token typed, and fetch the PAC file.

Chromium reads its policies from /etc/chromium; to leave the machine's own Chromium (and other tests) alone, this
Chromium alone runs in a private mount namespace where a staged /etc/chromium and /opt are bind-mounted."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from werkzeug.serving import make_server

from local_service import deploy
from local_service.app import create_app
from local_service.cli import main
from local_service.services import Services
from rules import load_config

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "extension"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or os.name != "posix" or os.geteuid() != 0 or not shutil.which("unshare"),
    reason="needs chromium, and root for a private mount namespace (the policies live in /etc/chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crx_id(pem: Path) -> str:
    """A packed extension's id: the SHA-256 of its public key (DER), first 32 hex digits written with a-p."""
    key = serialization.load_pem_private_key(pem.read_bytes(), None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "".join(chr(ord("a") + int(c, 16)) for c in hashlib.sha256(der).hexdigest()[:32])


class Recorder:
    """WSGI middleware: the paths the service was asked for."""

    def __init__(self, app):
        self.app, self.paths = app, []

    def __call__(self, environ, start_response):
        self.paths.append(environ.get("PATH_INFO", ""))
        return self.app(environ, start_response)


@pytest.fixture
def stage(tmp_path):
    # 1. The extension packed as a school would host it (chromium --pack-extension), and its update manifest.
    src = tmp_path / "postguard-ext"
    src.mkdir()
    for name in ("manifest.json", "managed-schema.json", "src", "bundle", "icons"):
        (shutil.copytree if (EXT / name).is_dir() else shutil.copyfile)(EXT / name, src / name)
    subprocess.run([str(CHROMIUM), "--no-sandbox", "--headless", "--disable-gpu", f"--pack-extension={src}"],
                   check=True, capture_output=True, timeout=120, cwd=tmp_path)
    ext_id = crx_id(tmp_path / "postguard-ext.pem")
    version = json.loads((src / "manifest.json").read_text())["version"]
    updates = tmp_path / "updates"
    updates.mkdir()
    shutil.copyfile(tmp_path / "postguard-ext.crx", updates / "postguard.crx")
    update_port = free_port()
    (updates / "updates.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<gupdate xmlns='http://www.google.com/update2/response' "
        f"protocol='2.0'>\n  <app appid='{ext_id}'>\n    <updatecheck codebase='http://127.0.0.1:{update_port}/"
        f"postguard.crx' version='{version}' />\n  </app>\n</gupdate>\n")

    class Files(http.server.SimpleHTTPRequestHandler):
        extensions_map = {".crx": "application/x-chrome-extension", ".xml": "text/xml"}

        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(updates), **kw)

        def log_message(self, fmt, *args):
            served.append(fmt % args)

    served = []
    files = http.server.ThreadingHTTPServer(("127.0.0.1", update_port), Files)
    threading.Thread(target=files.serve_forever, daemon=True).start()

    # 2. postguard deploy from the school's config.
    service_port = free_port()
    school = tmp_path / "school.toml"
    school.write_text(f'[school]\nname = "Test School"\n[deploy]\nextension_id = "{ext_id}"\n'
                      f'update_url = "http://127.0.0.1:{update_port}/updates.xml"\nservice_port = {service_port}\n')
    out = tmp_path / "out"
    assert main(["deploy", "--config", str(school), "--out", str(out)]) == 0

    # 3. The laptop's side: its config, the service, and the staged /etc/chromium and /opt/postguard.
    conf = tmp_path / "laptop.toml"
    conf.write_text(f'data_dir = "{tmp_path / "data"}"\n' + (out / "linux/config.toml").read_text()
                    .replace(f'ca_dir = "{deploy.LINUX.ca_dir}"', ""))
    config = load_config(conf)
    svc = Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", user="teacher1")
    app = Recorder(create_app({"TESTING": True}, svc))
    server = make_server("127.0.0.1", service_port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    etc = tmp_path / "etc-chromium"
    shutil.copytree("/etc/chromium", etc)
    (etc / "policies/managed").mkdir(parents=True)
    shutil.copyfile(out / "linux/policies/chromium/postguard.json", etc / "policies/managed/postguard.json")
    # Test only, never deployed: DevTools (Playwright's way in) is off for policy-installed extensions by default.
    (etc / "policies/managed/test-devtools.json").write_text('{"DeveloperToolsAvailability": 1}')
    (etc / "native-messaging-hosts").mkdir()
    shutil.copyfile(out / f"linux/native-messaging/{deploy.HOST_NAME}.json",
                    etc / f"native-messaging-hosts/{deploy.HOST_NAME}.json")
    opt = tmp_path / "opt"
    (opt / "postguard").mkdir(parents=True)
    host = opt / "postguard/native-host"  # the deployed host's place; the program is this checkout's
    host.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m local_service.cli native-host --config "{conf}" "$@"\n')
    host.chmod(0o755)
    launcher = tmp_path / "chromium-in-namespace"
    launcher.write_text(
        "#!/bin/sh\nexec unshare --mount --propagation private sh -c '"
        f'mount --bind "{etc}" /etc/chromium && mount --bind "{opt}" /opt && exec {CHROMIUM} "$@"'
        "' chromium \"$@\"\n")
    launcher.chmod(0o755)
    yield ext_id, launcher, svc, app, tmp_path / "profile", served
    server.shutdown()
    server.server_close()
    files.shutdown()
    files.server_close()
    svc.store.close()


def test_policies_force_install_connect_and_set_the_pac(stage):
    from playwright.sync_api import sync_playwright

    ext_id, launcher, svc, app, profile, served = stage
    with sync_playwright() as pw:
        def launch():
            return pw.chromium.launch_persistent_context(
                str(profile), executable_path=str(launcher), headless=True,
                # Playwright's defaults switch off extensions and the background networking that installs them
                ignore_default_args=["--disable-extensions", "--disable-component-extensions-with-background-pages",
                                     "--disable-background-networking", "--disable-component-update"],
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"])

        # First start: the policy installs the extension (its files appear in the profile).
        context = launch()
        installed = profile / "Default" / "Extensions" / ext_id
        deadline = time.monotonic() + 90
        while not any(installed.glob("*/manifest.json")) and time.monotonic() < deadline:
            time.sleep(0.5)
        context.close()
        assert any(installed.glob("*/manifest.json")), f"not force-installed from the update URL; served: {served}"
        # The next start, as a laptop's next login: the extension is there from the start.
        context = launch()
        try:
            worker = next((w for w in context.service_workers if ext_id in w.url), None) or \
                context.wait_for_event("serviceworker", predicate=lambda w: ext_id in w.url, timeout=30000)
            deadline, status = time.monotonic() + 60, {}
            while not status.get("reachable") and time.monotonic() < deadline:  # the worker refreshes at start
                status = worker.evaluate("chrome.storage.local.get('status')").get("status") or {}
                time.sleep(0.5)
            managed = worker.evaluate("chrome.storage.managed.get(null)")
            host = worker.evaluate("chrome.storage.session.get('nativeHost')")
        finally:
            context.close()
    assert status.get("reachable") and status.get("configured"), status  # connected, nothing typed
    assert host["nativeHost"]["values"]["token"] == svc.token  # from the native host
    assert managed == {"serviceUrl": f"http://127.0.0.1:{svc.config.deploy.service_port}", "pack": "default"}
    assert "/proxy.pac" in app.paths, app.paths  # Chromium fetched the PAC file the ProxySettings policy names
