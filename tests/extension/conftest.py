"""The unpacked extension in Debian's Chromium, the real local service, and a small test site, all on loopback.

Playwright's sync API allows one running instance per thread, and tests/browser keeps its own for the whole session;
so the extension's browser runs on a thread of its own and each test hands it a function (`chrome.run(fn)`).
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask, request
from werkzeug.serving import WSGIRequestHandler, make_server

from local_service.app import create_app
from local_service.services import Services
from rules.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "extension"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "extension-test-token-0123456789"
# The school's site, 1.1 km north of where the test photos were taken: near enough to be named in the dialog, not on
# it (a photo taken on the site is location.school_site's: tests/extension/test_photo_browser.py).
SHEFFIELD_SITE = {"name": "Main site", "lat": 53.3928, "lon": -1.4567, "radius_m": 300}
ON_SITE = {"name": "Main site", "lat": 53.3828, "lon": -1.4567, "radius_m": 300}


def require_node() -> str:
    node = shutil.which("node")
    if node:
        return node
    if os.environ.get("CI"):
        pytest.fail("node is not installed, but CI must install it (Node 20: the extension's tests and lint)")
    pytest.skip("node is not installed (the extension's JavaScript tests need Node 20)")


# -- servers on loopback that can really stop --------------------------------------------------------------------

class _Tracking(WSGIRequestHandler):
    """Remembers its connection, so stopping the server also ends keep-alive and streaming connections (a stopped
    service must look stopped to the browser, not answer on an old socket)."""

    def setup(self):
        super().setup()
        self.server.tracked.add(self.connection)

    def finish(self):
        self.server.tracked.discard(self.connection)
        super().finish()

    def log_message(self, *args):
        pass


class Served:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Tracking)
        self.server.tracked = set()
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def stop(self):
        if not self.running:
            return
        self.running = False
        self.server.shutdown()
        self.server.server_close()
        for conn in list(self.server.tracked):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)


# -- the test site: a file input, a drop zone, a sign-up form and a post box; it records what it receives ---------

SITE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Staff Social (test site)</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #eef2f6; color: #1c2733; }
  header { background: #3b5998; color: #fff; padding: 14px 28px; font-weight: 700; font-size: 20px; }
  main { max-width: 760px; margin: 24px auto; display: grid; gap: 18px; padding: 0 16px; }
  section, form { background: #fff; border-radius: 10px; padding: 16px 20px; box-shadow: 0 1px 2px #0002; }
  #dropzone { border: 2px dashed #8aa; border-radius: 10px; padding: 28px; text-align: center; color: #567; }
  textarea { width: 100%; min-height: 60px; font: inherit; }
  label { display: block; margin: 6px 0; }
  button { font: inherit; padding: 6px 18px; }
</style></head>
<body>
<header>Staff Social</header>
<main>
  <form id="upload" action="/upload" method="post" enctype="multipart/form-data">
    <label>Photo <input type="file" id="photo" name="photo" accept="image/*"></label>
    <label>Caption <textarea id="caption" name="caption"></textarea></label>
    <button type="submit" id="post">Post</button>
  </form>
  <div id="dropzone">Drop photos here to share them</div>
  <section id="composer">
    <textarea id="status" aria-label="What's happening?"></textarea>
    <button type="button" id="share">Post</button>
  </section>
  <form id="signup" action="/signup" method="post">
    <label>Email <input type="email" id="email" name="email"></label>
    <label>Name <input id="display_name" name="display_name"></label>
    <label>Password <input type="password" id="password" name="password"></label>
    <button type="submit" id="join">Sign up</button>
  </form>
</main>
<script>
  window.seen = { changes: [], drops: [], pastes: [], statuses: [], pickedAt: null, panelAt: null, paintedAt: null };
  window.addEventListener("input", (e) => {
    if (e.target.type === "file" && seen.pickedAt === null) seen.pickedAt = performance.now();
  }, true);
  document.getElementById("photo").addEventListener("change", (e) => {
    seen.changes.push([...e.target.files].map((f) => ({ name: f.name, size: f.size })));
  });
  const zone = document.getElementById("dropzone");
  zone.addEventListener("dragover", (e) => e.preventDefault());
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    const body = new FormData();
    for (const f of e.dataTransfer.files) body.append("photo", f);
    await fetch("/upload-drop", { method: "POST", body });
    seen.drops.push([...e.dataTransfer.files].map((f) => f.name));
  });
  document.getElementById("status").addEventListener("paste", async (e) => {
    if (!e.clipboardData.files.length) return;
    e.preventDefault();
    const body = new FormData();
    for (const f of e.clipboardData.files) body.append("photo", f);
    await fetch("/upload-paste", { method: "POST", body });
    seen.pastes.push([...e.clipboardData.files].map((f) => f.name));
  });
  document.getElementById("share").addEventListener("click", async () => {
    const text = document.getElementById("status").value;
    await fetch("/status", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }) });
    seen.statuses.push(text);
  });
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeName === "POSTGUARD-UI" && seen.panelAt === null) {
        seen.panelAt = performance.now();
        requestAnimationFrame(() => requestAnimationFrame(() => { seen.paintedAt = performance.now(); }));
      }
    }
  }).observe(document.documentElement, { childList: true });
</script>
</body></html>
"""


class Site:
    """What the test site's server received: [{path, fields, files: {name: (filename, bytes)}, json}]."""

    def __init__(self):
        self.received: list[dict] = []
        app = Flask("postguard_test_site")

        @app.get("/")
        def index():
            return SITE_PAGE

        @app.post("/upload")
        @app.post("/upload-drop")
        @app.post("/upload-paste")
        @app.post("/signup")
        def receive():
            self.received.append({"path": request.path, "fields": request.form.to_dict(flat=False),
                                  "files": [(k, f.filename, f.read()) for k, f in request.files.items(multi=True)]})
            return "<!doctype html><title>Thanks</title><p id=thanks>Thanks, it is posted.</p>"

        @app.post("/status")
        def status():
            self.received.append({"path": "/status", "json": request.get_json(silent=True)})
            return {"ok": True}

        self.served = Served(app)
        self.url = self.served.url
        self.host = f"127.0.0.1:{self.served.port}"

    def wait_for(self, path: str, timeout: float = 10) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for r in self.received:
                if r["path"] == path:
                    return r
            time.sleep(0.05)
        raise AssertionError(f"the test site received nothing at {path}; it has: {[r['path'] for r in self.received]}")


# -- Chromium with the unpacked extension, on its own thread -------------------------------------------------------

class Chrome:
    def __init__(self, user_data: Path):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="extension-chromium")
        self.user_data = user_data
        self.run(self._start)

    def run(self, fn, *args):
        """Run fn(context, *args) on the browser's thread; its result or exception comes back here."""
        return self._pool.submit(fn, self.context if hasattr(self, "context") else None, *args).result()

    def _start(self, _):
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            str(self.user_data), executable_path=str(CHROMIUM), headless=True,
            viewport={"width": 1280, "height": 860},
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", f"--disable-extensions-except={EXT}", f"--load-extension={EXT}"])
        worker = self.context.service_workers[0] if self.context.service_workers else \
            self.context.wait_for_event("serviceworker", timeout=15000)
        self.id = worker.url.split("/")[2]
        self.origin = f"chrome-extension://{self.id}"

    def close(self):
        def stop(context):
            context.close()
            self._pw.stop()
        self.run(stop)
        self._pool.shutdown()


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing, but CI must install it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium): the extension's browser tests need it")
    return CHROMIUM


@pytest.fixture(scope="module")
def chrome(chromium_path, tmp_path_factory):
    browser = Chrome(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def site():
    s = Site()
    yield s
    s.served.stop()


@pytest.fixture
def service(chrome, tmp_path):
    """The real local service, accepting this Chromium's extension origin; stop() stops it for good."""
    config = parse_config({"data_dir": str(tmp_path / "data"), "school": {
        "name": "Test School", "email_domains": ["test-school.sch.uk"], "sites": [SHEFFIELD_SITE]}})
    app = create_app({"TESTING": True, "SECRET_KEY": "extension-test-secret", "EXTENSION_ORIGINS": [chrome.origin],
                      "STREAM_SECONDS": 20},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token=TOKEN,
                                   user="teacher1"))
    served = Served(app)
    served.store = app.extensions["postguard"].store
    served.token = TOKEN
    yield served
    served.stop()
    served.store.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
