"""A real PostGuard service on a loopback port and Debian's Chromium driven by Playwright."""
import os
import threading
from pathlib import Path

import pytest

from local_service.app import create_app
from local_service.services import Services
from rules.config import parse_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing, but CI must install it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def live_app(tmp_path):
    """The app, served by werkzeug on 127.0.0.1 and a free port, in a background thread."""
    from werkzeug.serving import make_server

    config = parse_config({"data_dir": str(tmp_path / "data"), "school": {"name": "Test School"}})
    app = create_app({"SECRET_KEY": "browser-test-secret"}, Services.open(
        config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token="browser-test-token-0123",
        user="teacher1"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.base_url = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    thread.join(5)
    app.extensions["postguard"].store.close()


@pytest.fixture(scope="module")  # not the session: Playwright's sync API holds this thread's event loop while it
def browser(chromium_path):      # runs, and later tests (other browsers, asyncio.run) need it back
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
