"""Single sign-on in Debian's Chromium (Playwright): the dashboard's SameSite=Strict session cookie is not sent with
the provider's cross-site redirect back, so the callback reloads itself from the dashboard, and the sign-in
completes. The provider is oidc-provider-mock in its own process at http://localhost:PORT, the dashboard the trust
server at http://127.0.0.1:PORT: two sites."""
import os
from pathlib import Path

import pytest

from local_service import accounts

from .admin_helpers import fast_hashing  # noqa: F401
from .test_sso import Dashboard, audits, provider, set_user  # noqa: F401 (provider: a fixture)

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium_page():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing, but CI must install it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def test_signing_in_with_the_provider_in_a_real_browser(tmp_path, provider, chromium_page):  # noqa: F811
    d = Dashboard(tmp_path, provider)
    try:
        accounts.add(d.store, "dsl@a.sch.uk", "dsl", ["A"])
        set_user(provider, "dsl-a", email="dsl@a.sch.uk")
        page = chromium_page
        callbacks = []
        page.on("request", lambda r: callbacks.append(r.url) if "/admin/sso/trust/callback" in r.url else None)
        page.goto(f"{d.base}/admin/events")  # not signed in: the login page, which offers the provider
        assert "/admin/login" in page.url
        page.get_by_role("link", name="Sign in with the trust's account").click()
        page.wait_for_url(f"{provider}/**")
        page.locator('input[name="sub"]').fill("dsl-a")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(f"{d.base}/admin/events")
        assert page.get_by_role("heading", name="Events", exact=True).is_visible()
        # Chromium did not send the Strict cookie with the provider's redirect; the page's reload from the site did.
        assert len(callbacks) == 2 and "hop=1" not in callbacks[0] and callbacks[1].endswith("&hop=1")
        cookie = [c for c in page.context.cookies() if c["name"] == "session" and c["domain"] == "127.0.0.1"]
        assert cookie and cookie[0]["sameSite"] == "Strict" and cookie[0]["httpOnly"]
        login = audits(d.store, "login")
        assert [(a["actor"], a["detail"]["method"]) for a in login] == [("dsl@a.sch.uk", "sso:trust")]
    finally:
        d.close()
