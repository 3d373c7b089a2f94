"""The extension connects with no token pasted: real Chromium with the unpacked extension, PostGuard's native host
registered for that extension's id only (the manifest postguard deploy writes), and the real local service. Nobody
types anything; the extension asks the host, gets the service's address and token, and the service answers it."""
from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from local_service import deploy
from local_service.app import create_app
from local_service.services import Services
from rules import load_config
from rules.record.keys import TOKEN_FILE
from rules.record.keys import rotate as rotate_secret

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "extension"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed (apt-get install chromium)")


def unpacked_id(path: Path) -> str:
    """Chromium's id for an unpacked extension: the SHA-256 of its path, first 32 hex digits written with a-p."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def deployed(tmp_path):
    ext_id = unpacked_id(EXT)
    port = free_port()
    conf = tmp_path / "config.toml"
    conf.write_text(f'data_dir = "{tmp_path / "data"}"\n[deploy]\nextension_id = "{ext_id}"\n'
                    f'service_port = {port}\n')
    config = load_config(conf)
    svc = Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", user="teacher1")
    server = make_server("127.0.0.1", port, create_app({"TESTING": True}, svc), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The host as the deployment installs it: a wrapper naming the config, and a manifest for this extension only,
    # in the profile's NativeMessagingHosts folder (Chromium's per-user place; the system one needs root).
    wrapper = tmp_path / "native-host"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m local_service.cli native-host --config "{conf}" "$@"\n')
    wrapper.chmod(0o755)
    profile = tmp_path / "profile"
    hosts = profile / "NativeMessagingHosts"
    hosts.mkdir(parents=True)
    dep = deploy.Deployment.__new__(deploy.Deployment)
    dep.extension_id = ext_id
    (hosts / f"{deploy.HOST_NAME}.json").write_text(json.dumps(dep.native_host_manifest(str(wrapper))))
    state = {"server": server, "svc": svc}

    def rotate():
        """A new token for this account (postguard's keys.rotate) and the service restarted with it, same port."""
        state["server"].shutdown()
        state["server"].server_close()
        state["svc"].store.close()
        rotate_secret(config, TOKEN_FILE)
        state["svc"] = Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", user="teacher1")
        state["server"] = make_server("127.0.0.1", port, create_app({"TESTING": True}, state["svc"]), threaded=True)
        threading.Thread(target=state["server"].serve_forever, daemon=True).start()
        return state["svc"]

    yield ext_id, profile, svc, rotate
    state["server"].shutdown()
    state["server"].server_close()
    state["svc"].store.close()


def test_extension_connects_through_the_native_host_with_no_token_typed(deployed):
    from playwright.sync_api import sync_playwright

    ext_id, profile, svc, rotate = deployed
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", f"--disable-extensions-except={EXT}", f"--load-extension={EXT}"])
        try:
            worker = context.service_workers[0] if context.service_workers else \
                context.wait_for_event("serviceworker", timeout=15000)
            assert worker.url.split("/")[2] == ext_id  # the id the host's allowed_origins names
            page = context.new_page()
            page.goto(f"chrome-extension://{ext_id}/src/ui/options.html")
            status = page.evaluate("""async () => {
                await chrome.storage.local.clear();   // nothing typed on the options page
                return chrome.runtime.sendMessage({ type: "settings-changed" });
            }""")
            session = worker.evaluate("chrome.storage.session.get('nativeHost')")
            # The token rotated: a refused call drops the host's old answer, and the next one asks the host again
            # (without that, the old token would stay until the browser restarts).
            rotated = rotate()
            for _ in range(10):
                again = page.evaluate('chrome.runtime.sendMessage({ type: "settings-changed" })')
                if again["reachable"]:
                    break
            session2 = worker.evaluate("chrome.storage.session.get('nativeHost')")
        finally:
            context.close()
    assert status["configured"] and status["reachable"], status
    assert "token" in status["managed"] and status["settings"]["token"] == "set"
    assert session["nativeHost"]["values"]["token"] == svc.token
    assert again["reachable"], again
    assert session2["nativeHost"]["values"]["token"] == rotated.token != svc.token
