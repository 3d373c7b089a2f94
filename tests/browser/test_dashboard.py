"""The admin dashboard and the staff page in a real browser: log in, filter, open an event, download the CSV."""
import csv
import io
import random
from datetime import timedelta

import pytest
from zoneinfo import ZoneInfo

from axe_playwright_python.sync_playwright import Axe

from local_service import auth
from local_service.tickets import issue_staff_ticket
from rules.record.events import Event, utcnow
from rules.record.store import Filter

from .conftest import ARTIFACTS

PASSWORD = "browser test password"
USERS = ["j.smith", "a.khan", "m.jones", "r.patel", "s.oconnor"]
HOSTS = ["www.facebook.com", "x.com", "www.instagram.com", "stmarys-blog.wordpress.com", "www.tiktok.com"]
SEVERITY = {"location.gps": "high", "location.place": "medium"}
CLAUSE = {"ref": "St Mary of the Angels: 6.9", "text": "Photographs, videos or any other types of image of pupils "
          "... must not be published on personal web space."}


def seed(store, n=320):
    rnd = random.Random(7)
    now = utcnow()
    events = []
    for i in range(n):
        rule = rnd.choices(["location.gps", "location.place", "inspection.error"], [6, 3, 1])[0]
        decision = ("inspection_error" if rule == "inspection.error" else
                    rnd.choices(["sanitised", "warned", "overridden", "cancelled", "blocked"], [8, 3, 2, 2, 1])[0])
        events.append(Event(
            rule=rule, decision=decision, severity=SEVERITY.get(rule, "low"),
            user=rnd.choice(USERS), device=f"STAFF-LT-{rnd.randint(10, 40)}",
            path=f"https://{rnd.choices(HOSTS, [8, 5, 4, 2, 1])[0]}/upload",
            # within the overview's 30 days: today and the 29 before it, from midnight
            time=now - timedelta(hours=rnd.random() * 24 * 29), source="proxy",
            clauses=[CLAUSE] if rule != "inspection.error" else [],
            message="This photo records where it was taken (near Sheffield)." if rule == "location.gps" else "",
            reason="Parental consent on file" if decision == "overridden" else "",
            evidence={"lat": 53.382847, "lon": -1.456677, "source": "EXIF GPS"} if rule == "location.gps" else {}))
    store.append(events)
    return events


@pytest.fixture
def seeded(live_app):
    store = live_app.extensions["postguard"].store
    events = seed(store)
    auth.set_password(store, PASSWORD)
    return live_app, store, events


def log_in(page, base):
    page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url
    page.get_by_label("Password", exact=True).fill(PASSWORD)  # the account field left empty: "admin"
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/")


def test_log_in_filter_open_an_event_and_download_the_csv(seeded, page):
    app, store, events = seeded
    base = app.base_url
    log_in(page, base)
    assert page.get_by_role("heading", name="Overview", level=1).is_visible()
    assert page.locator("svg.chart").count() == 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

    page.get_by_role("link", name="Events", exact=True).click()
    page.get_by_label("Rule").select_option("location.place")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**/admin/events?*rule=location.place*")
    rules = page.locator("table.events tbody tr td.col-rule .rule-id").all_inner_texts()
    expected = [e for e in events if e.rule == "location.place"]
    assert rules and set(rules) == {"location.place"}
    assert set(page.locator("table.events tbody tr td.col-rule .rule-name").all_inner_texts()) == \
        {"Place name in a photo"}
    assert len(rules) == min(50, len(expected))
    page.screenshot(path=str(ARTIFACTS / "dashboard-events.png"), full_page=True)

    newest = max(expected, key=lambda e: e.time)
    page.locator("table.events tbody tr").first.locator("a").first.click()
    page.wait_for_url(f"**/admin/events/{newest.id}")
    assert page.get_by_role("heading", name="Policy clauses").is_visible()
    assert "must not be published on personal web space" in page.locator(".clause blockquote").first.inner_text()
    page.get_by_role("link", name=newest.user).first.click()
    page.wait_for_url(f"**/admin/people/{newest.user}")
    assert page.get_by_role("heading", name=f"History for {newest.user}").is_visible()
    theirs = [e for e in events if e.user == newest.user]
    assert page.locator("table.events tbody tr").count() == min(50, len(theirs))

    page.go_back()
    page.go_back()
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert {r["id"] for r in rows} == {e.id for e in expected}
    assert {r["rule"] for r in rows} == {"location.place"}
    actions = [a["action"] for a in store.audit_entries()]
    assert "export_csv" in actions and "view_event" in actions and "view_events" in actions


def test_staff_link_from_another_site_shows_only_their_own_events(seeded, page):
    """The extension opens the ticket link from its own origin: the session cookie (SameSite=Strict) must still be
    sent after the redirect to /me."""
    app, store, events = seeded
    with app.test_request_context():
        ticket = issue_staff_ticket("a.khan")
    link = f"{app.base_url}/me/{ticket}"
    page.route("http://launcher.test/", lambda route: route.fulfill(
        content_type="text/html", body=f'<a id="go" href="{link}">My record</a>'))
    page.goto("http://launcher.test/")
    page.click("#go")
    page.wait_for_url(f"{app.base_url}/me")
    assert page.get_by_role("heading", name="What PostGuard has recorded about you").is_visible()
    mine = sorted((e for e in events if e.user == "a.khan"), key=lambda e: e.time, reverse=True)[:50]
    assert page.locator("article.staff-event").count() == len(mine)
    page.screenshot(path=str(ARTIFACTS / "staff-record.png"))
    assert "j.smith" not in page.content()


def visible_right_edges(page, selector: str) -> list[float]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getBoundingClientRect().right)")


@pytest.mark.parametrize("width", [1280, 820, 390])
def test_the_decision_column_stays_on_screen_on_a_narrow_window(seeded, page, width):
    app, store, events = seeded
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, app.base_url)
    page.goto(f"{app.base_url}/admin/events")
    decisions = page.locator("table.events tbody td.col-decision")
    assert decisions.count() == 50 and decisions.first.is_visible()
    assert max(visible_right_edges(page, "table.events tbody td.col-decision")) <= width
    assert max(visible_right_edges(page, "table.events thead th.col-decision")) <= width
    scroll = page.eval_on_selector("table.events", "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert scroll[0] <= scroll[1], scroll  # nothing to scroll sideways to
    assert page.eval_on_selector("html", "h => h.scrollWidth") <= width
    # what the narrow view drops is on the event's own page
    assert page.locator("table.events tbody td.col-device").first.is_visible() == (width > 1024)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-events-{width}px.png"), full_page=False)
    page.goto(f"{app.base_url}/admin/")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-overview-{width}px.png"), full_page=False)
    page.goto(f"{app.base_url}/admin/events")
    # at full width every column is there
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.locator("table.events tbody td.col-device").first.is_visible()
    assert page.locator("table.events tbody td.col-host").first.is_visible()


def test_times_in_the_school_time_zone_words_not_ids_and_posts_on_the_tiles(seeded, page):
    app, store, events = seeded
    log_in(page, app.base_url)
    tiles = page.locator("ul.cards").inner_text()
    assert "posts with a finding" in tiles and f"({len(events)} findings" in tiles
    page.goto(f"{app.base_url}/admin/events")
    times = page.locator("table.events tbody td.col-time").all_inner_texts()
    assert times and all(t.endswith((" GMT", " BST")) for t in times), times[:3]
    assert "UTC" not in page.locator("main").inner_text()
    newest = max(events, key=lambda e: e.time)
    local = newest.time.astimezone(ZoneInfo("Europe/London"))
    assert times[0] == f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"
    gps = next(e for e in sorted(events, key=lambda e: e.time, reverse=True) if e.rule == "location.gps")
    page.goto(f"{app.base_url}/admin/events/{gps.id}")
    main = page.locator("main").inner_text()
    assert "Location (GPS) in a photo or video" in page.locator("h1").inner_text()
    assert "The file held a location (53.38, -1.46, rounded to about 1 km), in its EXIF GPS." in main
    assert "Latitude (about 1 km)" in main and "{" not in page.locator("section", has_text="Evidence").inner_text()
    page.goto(f"{app.base_url}/admin/audit")
    audit = page.locator("table.audit").inner_text()
    assert "Viewed an event" in audit and "{" not in audit


def test_the_search_box_finds_a_person_and_words_from_a_reason(seeded, page):
    app, store, events = seeded
    log_in(page, app.base_url)
    page.goto(f"{app.base_url}/admin/events")
    page.get_by_role("searchbox", name="Search").fill("Parental consent")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**/admin/events?*q=Parental+consent*")
    overridden = sorted((e for e in events if e.decision == "overridden"), key=lambda e: e.time, reverse=True)
    shown = page.locator("table.events tbody tr")
    assert shown.count() == min(50, len(overridden)) > 0
    assert set(page.locator("td.col-decision").all_inner_texts()) == {"Posted anyway after a warning"}
    assert "mentioning “Parental consent”" in page.locator("#search-note").inner_text()
    page.get_by_role("searchbox", name="Search").fill("a.khan")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**q=a.khan*")
    assert "whose person is “a.khan”" in page.locator("#search-note").inner_text()
    assert set(page.locator("td.col-person").all_inner_texts()) == {"a.khan"}
    nobody = page.locator("table.events tbody tr")
    page.get_by_role("searchbox", name="Search").fill("no such words anywhere")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**q=no+such*")
    assert nobody.count() == 0 and "No events match" in page.locator("main").inner_text()


def serious_violations(page) -> list[str]:
    """axe-core's WCAG 2.1 A and AA rules on the page as it is: the serious and critical violations, in words."""
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                                             "wcag21aa"]}})
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", [1280, 390])
def test_axe_finds_no_serious_violation_on_the_reviewers_pages(seeded, page, width):
    app, store, events = seeded
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, app.base_url)
    gps = next(e for e in events if e.rule == "location.gps")
    found = {}
    for path in ("/admin/", "/admin/events", f"/admin/events/{gps.id}", f"/admin/people/{gps.user}",
                 "/admin/events?q=Parental+consent", "/admin/settings", "/admin/audit"):
        page.goto(app.base_url + path)
        found[path] = serious_violations(page)
    with app.test_request_context():
        ticket = issue_staff_ticket(gps.user)
    page.goto(f"{app.base_url}/me/{ticket}")
    page.wait_for_url(f"{app.base_url}/me")
    found["/me"] = serious_violations(page)
    assert found == {path: [] for path in found}
