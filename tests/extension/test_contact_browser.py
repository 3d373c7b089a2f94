"""Contact with pupils (issue 18 item 1) and a post sent as the browser starts (issue 14), in Chromium.

Saved copies of Facebook's, Instagram's, X's and TikTok's profile pages (tests/extension/fixtures/) are served through
Playwright's route interception as the real host names, so the extension runs on them exactly as it does on the
platforms (the manifest's own content script, the service's own scope). The service has St Mary of the Angels' pack
and a roster imported as keyed hashes; the extension never sees it.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local_service.app import create_app
from local_service.services import Services
from rules import roster
from rules.config import parse_config

from .conftest import CHROMIUM, EXT, TOKEN, Served
from .test_browser import _val, find_dialog, focused, no_dialog, screen_text, until, wait_text

FIXTURES = Path(__file__).parent / "fixtures"
ROSTER = "Legal Surname,Legal Forename,Year\nSmith,Jamie,6\nO'Brien,Chloé,5\nVan der Berg,Lena,4\n"
ST_MARY_6_2 = "Staff members must not have contact through any personal social medium with any pupil"

# platform: (fixture, page URL, the name it shows, its handle, the contact button, the action)
PUPIL_PAGES = {
    "facebook": ("facebook-profile.html", "https://www.facebook.com/jamie.smith.77", "Jamie Smith", "jamie.smith.77",
                 "div[aria-label='Add friend']", "friend"),
    "instagram": ("instagram-profile.html", "https://www.instagram.com/chloe.obrien_/", "Chloé O’Brien",
                  "chloe.obrien_", "header button._acan", "follow"),
    "x": ("x-profile.html", "https://x.com/jamies_07", "Jamie S.", "jamies_07", "[data-testid='sendDMFromProfile']",
          "message"),
    "tiktok": ("tiktok-profile.html", "https://www.tiktok.com/@lena.vdb", "Lena van der Berg", "lena.vdb",
               "button[data-e2e='follow-button']", "follow"),
}
OTHER = ("Priya Raman", "priya.raman")


def serve_fixtures(context, pages: dict[str, tuple[str, str, str]]):
    """Route each page URL (and anything else on its host) to its fixture, filled in: {url: (fixture, name,
    handle)}; other paths on the host answer 204 and are recorded in the returned list."""
    posted: list[dict] = []
    by_host: dict[str, dict] = {}
    for url, spec in pages.items():
        host = url.split("/")[2]
        by_host.setdefault(host, {})[url.rstrip("/")] = spec

    def handler(route, request):
        spec = by_host.get(request.url.split("/")[2], {}).get(request.url.split("?")[0].rstrip("/"))
        if spec is None or request.method != "GET":
            posted.append({"url": request.url, "method": request.method, "body": request.post_data or ""})
            return route.fulfill(status=200, content_type="application/json", body="{}")
        fixture, name, handle, *card = spec
        card_name, card_handle = card or ("Ruth Adebayo", "ruth.adebayo")  # a suggestion card (X's "You might like")
        html = (FIXTURES / fixture).read_text(encoding="utf-8").replace("{{NAME}}", name) \
            .replace("{{HANDLE}}", handle).replace("{{CARD_NAME}}", card_name).replace("{{CARD_HANDLE}}", card_handle)
        return route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    for host in by_host:
        context.route(f"https://{host}/**", handler)
    return posted


def set_up(context, chrome, service):
    """Fresh extension state pointed at this service; returns once the worker has read the service's scope."""
    page = context.new_page()
    page.goto(f"{chrome.origin}/src/ui/options.html")
    page.evaluate("""async (settings) => {
        await chrome.storage.local.clear();
        await chrome.storage.session.clear();
        await chrome.storage.local.set({ settings });
        return chrome.runtime.sendMessage({ type: "settings-changed" });
    }""", {"serviceUrl": service.url, "token": TOKEN, "extraHosts": []})
    until(lambda: (page.evaluate("chrome.storage.local.get('scope')").get("scope") or {}).get("hosts"),
          what="the service's scope")
    page.close()


@pytest.fixture
def school_service(chrome, tmp_path):
    config = parse_config({"data_dir": str(tmp_path / "data"),
                           "school": {"name": "St Mary of the Angels", "pack": "st-mary-of-the-angels"}})
    csv = tmp_path / "pupils.csv"
    csv.write_text(ROSTER, encoding="utf-8")
    roster.import_csv(config, csv)
    app = create_app({"TESTING": True, "SECRET_KEY": "contact-test-secret", "EXTENSION_ORIGINS": [chrome.origin],
                      "STREAM_SECONDS": 20},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token=TOKEN,
                                   user="teacher1"))
    served = Served(app)
    served.store = app.extensions["postguard"].store
    yield served
    served.stop()
    served.store.close()


def events(service):
    return list(service.store.iter_all())


def open_page(context, url):
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("document.readyState === 'complete'")
    return page


@pytest.mark.parametrize("platform", list(PUPIL_PAGES))
def test_contact_with_a_rostered_name_is_warned_with_the_schools_clause(chrome, school_service, platform,
                                                                        artifacts):
    fixture, url, name, handle, button, action = PUPIL_PAGES[platform]
    other_url = url.rsplit("/", 1)[0] + "/" + OTHER[1] if not url.endswith("/") else \
        url.rstrip("/").rsplit("/", 1)[0] + "/" + OTHER[1] + "/"

    def body(context):
        set_up(context, chrome, school_service)
        serve_fixtures(context, {url: (fixture, name, handle), other_url: (fixture, *OTHER)})
        out = {}
        # an unrelated name: nothing shown, the click goes through at once
        page = open_page(context, other_url)
        page.click(button)
        page.wait_for_function("seen.actions.length === 1", timeout=8000)
        out["other"] = (no_dialog(page, 0.5), page.evaluate("seen.actions"))
        page.close()

        page = open_page(context, url)
        page.click(button)
        dialog = find_dialog(page)
        assert dialog is not None, f"no warning on {platform} for {name}"
        out["title"] = _val(dialog, "name")
        out["text"] = screen_text(page)
        out["focused"] = focused(page)
        out["held"] = page.evaluate("seen.actions.length")
        page.screenshot(path=str(artifacts / f"extension-contact-{platform}.png"))
        if platform in ("facebook", "tiktok"):  # Report to the DSL, with a reason
            page.keyboard.press("Tab")
            assert focused(page) == ("button", "Report to the DSL")
            page.keyboard.press("Enter")
            assert _val(find_dialog(page), "name") == "What should the DSL know?"
            page.keyboard.press("Space")  # the first reason
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            out["notice"] = wait_text(page, "Reported to your school's DSL")
        elif platform == "x":  # Not a pupil, with a reason typed in: the message goes ahead
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            assert focused(page) == ("button", "Not a pupil")
            page.keyboard.press("Enter")
            assert _val(find_dialog(page), "name") == "Who is this person?"
            page.keyboard.press("ArrowDown")
            page.keyboard.press("ArrowDown")  # "Another reason": the text box
            page.keyboard.type("My nephew, at another school")
            page.keyboard.press("Enter")
            page.wait_for_function("seen.actions.length === 1", timeout=8000)
        else:  # Cancel (Escape)
            page.keyboard.press("Escape")
            out["notice"] = wait_text(page, "Nothing was sent to this person")
        time.sleep(0.3)
        out["after"] = page.evaluate("seen.actions")
        out["dialog_left"] = not no_dialog(page, 2)
        return out

    out = chrome.run(body)
    assert out["other"][0], "an unrelated name showed the dialog"
    assert len(out["other"][1]) == 1, "the unrelated contact did not go through"
    assert out["title"] == "This may be one of your pupils"
    assert ST_MARY_6_2 in out["text"], "the school's own clause (6.2)"
    assert "6.2" in out["text"]
    assert out["focused"] == ("button", "Cancel")
    assert out["held"] == 0, "the page acted before the person answered"
    assert not out["dialog_left"]
    logged = events(school_service)
    assert [e["rule"] for e in logged] == ["contact.pupil"]
    (event,) = logged
    assert event["evidence"]["action"] == action and event["source"] == "extension"
    assert event["user"] == "teacher1" and event["host"] == url.split("/")[2]
    assert name.split()[0].lower() not in str(event).lower(), "the log must not keep the name"
    if platform in ("facebook", "tiktok"):
        assert "Reported to your school's DSL" in out["notice"]
        assert event["decision"] == "cancelled"
        assert event["reason"] == "Reported to the DSL: They sent me a friend request"
        assert event["evidence"]["reported_to_dsl"] is True
        assert out["after"] == [], "a reported contact must not go ahead"
    elif platform == "x":
        assert event["evidence"]["match"] == "initial"
        assert (event["decision"], event["reason"]) == ("overridden", "Not a pupil: My nephew, at another school")
        assert out["after"] == ["Message"]
    else:
        assert (event["decision"], event["reason"]) == ("cancelled", "")
        assert out["after"] == []


def test_a_suggestion_card_is_checked_by_its_own_name(chrome, school_service):
    """On an unrelated person's profile, the Follow button of a pupil in the "You might like" card is warned; the
    profile's own Follow is not."""
    url = "https://x.com/priya_raman"

    def body(context):
        set_up(context, chrome, school_service)
        serve_fixtures(context, {url: ("x-profile.html", "Priya Raman", "priya_raman", "Jamie Smith", "jsmith_77")})
        page = open_page(context, url)
        page.click("[data-testid='1589450359-follow']")  # the profile's: Priya Raman
        page.wait_for_function("seen.actions.length === 1", timeout=8000)
        profile = no_dialog(page, 0.5)
        page.click("[data-testid='UserCell'] button")  # the card's: Jamie Smith
        dialog = find_dialog(page)
        title = _val(dialog, "name") if dialog else None
        page.keyboard.press("Escape")
        wait_text(page, "Nothing was sent to this person")
        return profile, title, page.evaluate("seen.actions")

    profile, title, actions = chrome.run(body)
    assert profile, "the profile's own (unrelated) follow was warned"
    assert title == "This may be one of your pupils"
    assert actions == ["Follow @priya_raman"]
    assert [(e["rule"], e["decision"]) for e in events(school_service)] == [("contact.pupil", "cancelled")]


# -- a post sent as the browser starts ---------------------------------------------------------------------------

def _launch(profile: Path):
    from playwright.sync_api import sync_playwright
    pw = sync_playwright().start()
    context = pw.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, viewport={"width": 1280, "height": 860},
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--no-first-run", f"--disable-extensions-except={EXT}", f"--load-extension={EXT}"])
    return pw, context


def test_a_post_sent_as_the_browser_starts_is_checked(chromium_path, tmp_path, artifacts):
    """The browser is set up, closed and started again; at once a post with a UPN and a pupil's name is sent on a
    saved Facebook composer: it is held and the dialog shows (issue 14: about a second after start it went out)."""
    config = parse_config({"data_dir": str(tmp_path / "data"),
                           "school": {"name": "St Mary of the Angels", "pack": "st-mary-of-the-angels"}})
    csv = tmp_path / "pupils.csv"
    csv.write_text(ROSTER, encoding="utf-8")
    roster.import_csv(config, csv)
    profile = tmp_path / "profile"
    pool = ThreadPoolExecutor(1, thread_name_prefix="extension-startup")
    url = "https://www.facebook.com/"

    def first_run():
        pw, context = _launch(profile)
        worker = context.service_workers[0] if context.service_workers else \
            context.wait_for_event("serviceworker", timeout=15000)
        origin = "chrome-extension://" + worker.url.split("/")[2]
        return pw, context, origin

    pw, context, origin = pool.submit(first_run).result()
    app = create_app({"TESTING": True, "SECRET_KEY": "startup-secret", "EXTENSION_ORIGINS": [origin]},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token=TOKEN,
                                   user="teacher1"))
    service = Served(app)
    store = app.extensions["postguard"].store

    class Ext:
        pass
    ext = Ext()
    ext.origin = origin

    def configure_and_close():
        set_up(context, ext, service)
        context.close()
        pw.stop()

    def second_run():
        start = time.monotonic()
        pw2, context2 = _launch(profile)
        launched = time.monotonic()
        posted = serve_fixtures(context2, {url: ("facebook-composer.html", "", "")})
        page = context2.pages[0] if context2.pages else context2.new_page()
        page.goto(url, wait_until="commit")
        page.wait_for_selector("div[aria-label=Post]", state="attached")
        x, y = page.evaluate("""() => {  // the composer's text as a paste would put it; where Post is
            document.querySelector("div[role=textbox]").innerText = "Well done Jamie Smith, UPN B801200005001";
            const r = document.querySelector("div[aria-label=Post]").getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2];
        }""")
        page.mouse.click(x, y)  # a real (trusted) click, without waiting for the page to settle
        sent = time.monotonic()
        dialog = find_dialog(page, 15)
        shown = time.monotonic()
        out = {"launch_s": launched - start, "sent_after_launch_ms": (sent - launched) * 1000,
               "dialog_after_send_ms": (shown - sent) * 1000, "dialog": _val(dialog, "name") if dialog else None,
               "posted": list(posted), "page_posted": page.evaluate("seen.posted")}
        page.screenshot(path=str(artifacts / "extension-startup-post.png"))
        context2.close()
        pw2.stop()
        return out

    try:
        pool.submit(configure_and_close).result()
        out = pool.submit(second_run).result()
    finally:
        service.stop()
        store.close()
        pool.shutdown()
    (artifacts / "extension-startup.txt").write_text(
        f"post sent {out['sent_after_launch_ms']:.0f} ms after the browser started; dialog "
        f"{out['dialog_after_send_ms']:.0f} ms after the post\n")
    assert out["dialog"] is not None, "the post sent as the browser started was not checked"
    assert out["posted"] == [] and out["page_posted"] == [], "the post went out before the person answered"
    assert out["dialog"] == "This post may go against your school's policy"
