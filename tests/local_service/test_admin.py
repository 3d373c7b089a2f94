"""The admin dashboard: login, CSRF, idle timeout, filters and paging, exports, settings, audit, and privacy."""
import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from markupsafe import escape

from local_service import auth as admin_auth
from local_service import charts
from local_service.words import rule_name
from rules.record.events import Event, utcnow
from local_service.export import safe_cell
from rules.record.store import Filter

from .admin_helpers import (PASSWORD, AuthActions, auth, event_ids, fast_hashing, make_events,  # noqa: F401
                            newest_first, older_link)

PAGES = ["/admin/", "/admin/events", "/admin/events?rule=location.gps", "/admin/people/amy", "/admin/settings",
         "/admin/audit"]
POSTS = ["/admin/settings", "/admin/settings/verify", "/admin/settings/purge", "/admin/logout"]


@pytest.fixture
def seeded(store):
    events = make_events()
    store.append(events)
    return events


def audits(store, action):
    return [a for a in store.audit_entries(limit=1000) if a["action"] == action]


# -- login -------------------------------------------------------------------------------------------------------

def test_every_admin_page_needs_login(client, store, seeded):
    one = seeded[0].id
    for url in [*PAGES, f"/admin/events/{one}"]:
        r = client.get(url)
        assert r.status_code == 302, url
        assert r.headers["Location"].startswith("/admin/login"), url
        assert "Finding number" not in r.text and "laptop-" not in r.text
    for url in ["/admin/export.csv", "/admin/export.jsonl", "/admin/export.csv?user=amy"]:
        r = client.get(url)
        assert r.status_code == 401, url
        assert one not in r.text and "laptop-" not in r.text


def test_posts_without_login_change_nothing(client, store, seeded):
    admin_auth.set_password(store, PASSWORD)
    token = AuthActions(client, store).csrf()  # a real CSRF token, still no login
    for url in POSTS:
        r = client.post(url, data={"csrf_token": token, "retention_days": "5"})
        assert r.status_code == 302 and r.headers["Location"].startswith("/admin/login"), url
    assert store.get_setting("retention_days") is None
    assert not audits(store, "purge") and not audits(store, "verify_log")


def test_login_page_says_how_to_set_a_password_only_when_none_is_set(client, store):
    assert "postguard admin set-password" in client.get("/admin/login").text
    admin_auth.set_password(store, PASSWORD)
    assert "postguard admin set-password" not in client.get("/admin/login").text


def test_set_password_needs_ten_characters(store):
    with pytest.raises(ValueError, match="at least 10 characters"):
        admin_auth.set_password(store, "short")
    with pytest.raises(ValueError, match="at least 10"):
        admin_auth.set_password(store, "123456789")
    assert not admin_auth.password_is_set(store)
    admin_auth.set_password(store, "1234567890")
    stored = store.account_get("admin")["password_hash"]  # the account "admin" (local_service/accounts.py)
    assert stored.startswith("$argon2id$") and "1234567890" not in stored
    assert admin_auth.check_password(store, "1234567890") and not admin_auth.check_password(store, "1234567891")


def test_wrong_password_is_refused(client, auth):
    r = auth.login("not the password")
    assert r.status_code == 401
    assert "That password is not right" in r.text
    assert client.get("/admin/").status_code == 302
    assert audits(auth.store, "login_failed")


def test_a_failed_login_does_not_say_whether_a_password_is_set(app, store):
    bodies = []
    for has_password in (False, True):
        if has_password:
            admin_auth.set_password(store, PASSWORD)
        client = app.test_client()
        r = AuthActions(client, store).login("wrong password 123")
        bodies.append((r.status_code, re.sub(r'value="[^"]{30,}"', "", r.text)))
    assert bodies[0] == bodies[1]
    assert bodies[0][0] == 401 and "set-password" not in bodies[0][1]


def test_right_password_logs_in_and_logout_ends_the_session(client, auth):
    r = auth.login(next="/admin/settings")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/settings"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/logout").status_code == 405  # logging out is a POST with the CSRF token
    assert auth.logout().status_code == 302
    assert client.get("/admin/").status_code == 302
    assert [a["action"] for a in auth.store.audit_entries()][:2] == ["logout", "view_overview"]


@pytest.mark.parametrize("target", ["//evil.example/admin/", "https://evil.example/", "/api/v1/events",
                                    "/admin/\\evil"])
def test_login_redirects_only_inside_the_dashboard(auth, target):
    r = auth.login(next=target)
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"


def test_five_wrong_passwords_lock_logins_for_thirty_seconds(client, auth, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(admin_auth, "now", lambda: clock[0])
    for _ in range(4):
        assert auth.login("wrong password 123").status_code == 401
    r = auth.login("wrong password 123")
    assert r.status_code == 401 and "wait 30 seconds" in r.text
    r = auth.login()  # even the right password, during the lockout
    assert r.status_code == 429 and "Wait 30 seconds" in r.text
    assert client.get("/admin/").status_code == 302
    clock[0] += 29
    assert auth.login().status_code == 429
    clock[0] += 2
    assert auth.login().status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_good_login_resets_the_failure_count(auth, monkeypatch):
    monkeypatch.setattr(admin_auth, "now", lambda: 5_000.0)
    for _ in range(4):
        auth.login("wrong password 123")
    assert auth.login().status_code == 302
    for _ in range(4):
        assert auth.login("wrong password 123").status_code == 401


# -- CSRF and the session ----------------------------------------------------------------------------------------

def test_login_form_needs_the_csrf_token(client, auth):
    client.get("/admin/login")
    assert client.post("/admin/login", data={"password": PASSWORD}).status_code == 400
    assert client.post("/admin/login", data={"password": PASSWORD, "csrf_token": "x" * 43}).status_code == 400
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("url", POSTS)
def test_every_post_form_needs_the_sessions_csrf_token(client, auth, url):
    auth.login()
    data = {"retention_days": "7", "alert_email": "", "alert_webhook": ""}
    assert client.post(url, data=data).status_code == 400
    assert client.post(url, data={**data, "csrf_token": auth.csrf()[:-2] + "xx"}).status_code == 400
    assert client.get("/admin/").status_code == 200  # still logged in: nothing happened
    assert store_unchanged(auth.store)
    r = auth.post(url, data)
    assert r.status_code == 302


def store_unchanged(store) -> bool:
    actions = {a["action"] for a in store.audit_entries()}
    return store.get_setting("retention_days") is None and not actions & {"purge", "verify_log", "logout"}


def test_csrf_token_from_another_session_is_refused(app, client, auth):
    auth.login()
    other = AuthActions(app.test_client(), auth.store)
    r = client.post("/admin/settings", data={"csrf_token": other.csrf(), "retention_days": "7"})
    assert r.status_code == 400
    assert auth.store.get_setting("retention_days") is None


def test_session_expires_after_thirty_idle_minutes(client, auth, monkeypatch):
    clock = [2_000_000.0]
    monkeypatch.setattr(admin_auth, "now", lambda: clock[0])
    auth.login()
    clock[0] += 29 * 60
    assert client.get("/admin/").status_code == 200  # activity resets the idle clock
    clock[0] += 29 * 60
    assert client.get("/admin/events").status_code == 200
    clock[0] += 31 * 60
    r = client.get("/admin/events")
    assert r.status_code == 302 and r.headers["Location"].startswith("/admin/login")
    assert "without activity" in client.get(r.headers["Location"]).text
    clock[0] += 1
    assert client.get("/admin/").status_code == 302  # the session was cleared, not just refused once
    assert client.get("/admin/export.csv").status_code == 401


def test_sessions_are_permanent_with_the_apps_thirty_minute_lifetime(app, client, auth):
    r = auth.login()
    cookie = r.headers["Set-Cookie"]
    assert "Expires=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert app.permanent_session_lifetime == timedelta(minutes=30)


# -- the gate (app.py) -------------------------------------------------------------------------------------------

def test_a_foreign_host_header_is_refused(client, auth):
    auth.login()
    assert client.get("/admin/", headers={"Host": "evil.example"}).status_code == 421
    assert client.get("/admin/login", headers={"Host": "postguard.evil.example:8765"}).status_code == 421


def test_a_foreign_origin_is_refused(client, auth):
    auth.login()
    r = client.post("/admin/settings", headers={"Origin": "https://evil.example"},
                    data={"csrf_token": auth.csrf(), "retention_days": "7"})
    assert r.status_code == 403
    assert auth.store.get_setting("retention_days") is None
    assert client.get("/admin/events", headers={"Origin": "http://evil.example"}).status_code == 403
    assert auth.post("/admin/settings", {"retention_days": "7", "alert_email": "", "alert_webhook": ""},
                     headers={"Origin": "http://localhost"}).status_code == 302


# -- the event list ----------------------------------------------------------------------------------------------

def test_pages_of_fifty_newest_first_with_an_older_link(client, auth, seeded):
    auth.login()
    expected = newest_first(seeded)
    r = client.get("/admin/events")
    assert r.status_code == 200
    assert event_ids(r.text) == expected[:50]
    r = client.get(older_link(r.text))
    assert event_ids(r.text) == expected[50:100]
    r = client.get(older_link(r.text))
    assert event_ids(r.text) == expected[100:]
    assert older_link(r.text) is None


def test_the_older_link_keeps_the_filters(client, auth, store):
    events = make_events(200)
    store.append(events)
    auth.login()
    expected = newest_first(e for e in events if e.user == "amy")
    assert len(expected) > 50
    r = client.get("/admin/events?user=amy")
    link = older_link(r.text)
    assert "user=amy" in link and "cursor=" in link
    assert event_ids(r.text) + event_ids(client.get(link).text) == expected[:100]


@pytest.mark.parametrize("query, keep", [
    ("user=amy", lambda e: e.user == "amy"),
    ("rule=location.place", lambda e: e.rule == "location.place"),
    ("severity=high", lambda e: e.severity == "high"),
    ("decision=overridden", lambda e: e.decision == "overridden"),
    ("host=x.com", lambda e: e.host == "x.com"),
    ("device=laptop-3", lambda e: e.device == "laptop-3"),
    ("user=ben&rule=location.gps&host=www.facebook.com",
     lambda e: (e.user, e.rule, e.host) == ("ben", "location.gps", "www.facebook.com")),
    ("since=2026-10-10&until=2026-10-12", lambda e: "2026-10-10" <= e.time.date().isoformat() <= "2026-10-12"),
    ("since=2026-10-20", lambda e: e.time.date().isoformat() >= "2026-10-20"),
    ("until=2026-10-01", lambda e: e.time.date().isoformat() <= "2026-10-01"),
    ("user=nobody", lambda e: False),
])
def test_filters_return_exactly_the_right_rows(client, auth, seeded, query, keep):
    auth.login()
    expected = newest_first(e for e in seeded if keep(e))
    assert len(expected) < 50  # one page holds them all, so the page shows exactly this set
    r = client.get(f"/admin/events?{query}")
    assert r.status_code == 200
    assert event_ids(r.text) == expected


@pytest.mark.parametrize("query", ["since=yesterday", "until=2026-13-01", "severity=urgent", "decision=maybe",
                                   "since=2026-10-10&until=2026-10-01", "cursor=garbage", f"user={'x' * 301}"])
def test_a_bad_filter_is_a_400_naming_it(client, auth, seeded, query):
    auth.login()
    r = client.get(f"/admin/events?{query}")
    assert r.status_code == 400
    assert "could not be used" in r.text or "page link is broken" in r.text


def test_drop_downs_offer_the_stored_values(client, auth, seeded):
    auth.login()
    html = client.get("/admin/events?user=amy").text
    for value in ["amy", "ben", "cat", "location.gps", "inspection.error", "laptop-2", "blog.example.org"]:
        assert f'<option value="{value}"' in html
    assert '<option value="amy" selected>' in html


def test_drop_downs_do_not_read_the_whole_log_on_every_page_load(client, auth, store, seeded, monkeypatch):
    auth.login()
    client.get("/admin/events")
    monkeypatch.setattr(type(store), "distinct", lambda *a, **k: pytest.fail("DISTINCT on a page load"))
    store.append(Event(rule="location.place", decision="warned", user="newcomer", device="laptop-99",
                       host="new.example.org", path="/x"))
    html = client.get("/admin/events").text
    for value in ["newcomer", "laptop-99", "new.example.org", "amy"]:
        assert f'<option value="{value}"' in html


def test_a_person_page_shows_only_their_history(client, auth, seeded):
    auth.login()
    r = client.get("/admin/people/ben?user=amy")  # the path names the person; a query cannot widen it
    expected = newest_first(e for e in seeded if e.user == "ben")
    assert event_ids(r.text) == expected
    assert "History for ben" in r.text
    assert audits(auth.store, "view_person")[0]["detail"]["user"] == "ben"


def test_an_event_page_shows_evidence_clauses_message_and_reason(client, auth, seeded):
    auth.login()
    e = next(e for e in seeded if e.decision == "overridden")
    r = client.get(f"/admin/events/{e.id}")
    assert r.status_code == 200
    for text in [e.message, "Parental consent on file", "must not be published on personal web space",
                 "St Mary of the Angels: 6.9", "<dt>Latitude (about 1 km)</dt><dd>53.38", f'href="/admin/people/{e.user}"', "overridden",
                 e.host]:
        assert text in r.text, text
    assert client.get("/admin/events/00000000-0000-4000-8000-000000000000").status_code == 404


def test_a_list_page_never_counts_the_whole_log(client, auth, seeded, monkeypatch):
    auth.login()
    store = auth.store
    monkeypatch.setattr(type(store), "count", lambda *a, **k: pytest.fail("count() on a page load"))
    assert client.get("/admin/events").status_code == 200
    assert client.get("/admin/people/amy").status_code == 200
    assert client.get("/admin/").status_code == 200


# -- exports -----------------------------------------------------------------------------------------------------

def test_csv_export_has_the_filtered_rows_and_headers(client, auth, seeded):
    auth.login()
    r = client.get("/admin/export.csv?user=amy&since=2026-10-05")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="postguard-events-\d{8}-\d{6}\.csv"', r.headers["Content-Disposition"])
    rows = list(csv.DictReader(io.StringIO(r.text)))
    expected = newest_first(e for e in seeded if e.user == "amy" and e.time.date().isoformat() >= "2026-10-05")
    assert [row["id"] for row in rows] == expected
    assert list(rows[0]) == ["time", "id", "user", "device", "rule", "severity", "decision", "host", "path", "source",
                             "message", "reason", "clauses", "evidence", "purged", "hash"]
    first = next(e for e in seeded if e.id == rows[0]["id"])
    assert rows[0]["path"] == "/upload" and rows[0]["clauses"] == "St Mary of the Angels: 6.9"
    assert json.loads(rows[0]["evidence"]) == first.evidence


def test_jsonl_export_has_the_filtered_rows(client, auth, seeded):
    auth.login()
    r = client.get("/admin/export.jsonl?rule=location.gps&decision=warned")
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment; filename=") and ".jsonl" in r.headers[
        "Content-Disposition"]
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["id"] for row in rows] == newest_first(
        e for e in seeded if e.rule == "location.gps" and e.decision == "warned")
    assert rows and rows[0]["clauses"] == [{"ref": "St Mary of the Angels: 6.9",
                                            "text": "Photographs ... must not be published on personal web space."}]


def test_exports_stream_every_row_past_one_batch(client, auth, store):
    events = make_events(1100, step=timedelta(minutes=1))
    store.append(events)
    auth.login()
    r = client.get("/admin/export.jsonl")
    assert r.is_streamed
    assert [json.loads(line)["id"] for line in r.text.splitlines()] == newest_first(events)


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("a=b", "a=b"), ("1-2", "1-2"), ("", ""), (None, ""),
])
def test_csv_cells_that_start_a_formula_are_quoted(value, expected):
    assert safe_cell(value) == expected


def test_csv_export_escapes_formulas_from_the_log(client, auth, store):
    store.append(Event(rule="location.gps", decision="overridden", user="@evil", device="=cmd|' /C calc'!A0",
                       reason="+SUM(1,2)", message="-1 for safety"))
    auth.login()
    row = next(csv.DictReader(io.StringIO(client.get("/admin/export.csv").text)))
    assert (row["user"], row["device"], row["reason"], row["message"]) == (
        "'@evil", "'=cmd|' /C calc'!A0", "'+SUM(1,2)", "'-1 for safety")


# -- the audit log -----------------------------------------------------------------------------------------------

def test_views_and_exports_are_audited(client, auth, seeded):
    auth.login()
    e = seeded[7]
    client.get("/admin/")
    client.get("/admin/events?user=amy&rule=location.gps")
    client.get(f"/admin/events/{e.id}")
    client.get("/admin/export.csv?user=cat")
    client.get("/admin/export.jsonl")
    client.get("/admin/settings")
    client.get("/admin/audit")
    store = auth.store
    view = audits(store, "view_events")[0]
    assert view["actor"] == "admin"
    assert view["detail"]["filters"] == {"user": "amy", "rule": "location.gps"}
    assert view["detail"]["rows"] == len([x for x in seeded if x.user == "amy" and x.rule == "location.gps"])
    assert audits(store, "view_event")[0]["detail"]["id"] == e.id
    assert audits(store, "export_csv")[0]["detail"] == {"filters": {"user": "cat"},
                                                        "rows": len([x for x in seeded if x.user == "cat"])}
    assert audits(store, "export_jsonl")[0]["detail"] == {"filters": {}, "rows": len(seeded)}
    for action in ("login", "view_overview", "view_settings", "view_audit"):
        assert audits(store, action), action
    html = client.get("/admin/audit").text
    assert "Exported events (CSV)" in html and "Viewed an event" in html  # in words, the details as fields
    assert "<dt>Rows</dt>" in html and "&#34;rows&#34;" not in html


def test_nothing_under_admin_edits_or_deletes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS", "POST"}, rule
            if "POST" in rule.methods:
                assert rule.endpoint in {"admin.login", "admin.logout", "admin.settings", "admin.verify",
                                         "admin.purge", "triage.post"}, rule  # triage: its own table, no event


def test_the_audit_page_has_no_forms_but_log_out(client, auth):
    auth.login()
    html = client.get("/admin/audit").text
    assert re.findall(r'<form method="post" action="([^"]+)"', html) == ["/admin/logout"]


# -- settings ----------------------------------------------------------------------------------------------------

GOOD = {"retention_days": "120", "alert_email": "dsl@test-school.sch.uk",
        "alert_webhook": "https://hooks.example.org/postguard"}


@pytest.mark.parametrize("field, value, message", [
    ("retention_days", "0", "from 1 to 3650"), ("retention_days", "3651", "from 1 to 3650"),
    ("retention_days", "ninety", "from 1 to 3650"), ("retention_days", "", "from 1 to 3650"),
    ("retention_days", "12.5", "from 1 to 3650"),
    ("alert_email", "not-an-email", "email address"), ("alert_email", "dsl@school", "email address"),
    ("alert_email", "two@at@school.sch.uk", "email address"),
    ("alert_webhook", "http://hooks.example.org/x", "https://"), ("alert_webhook", "ftp://127.0.0.1/x", "https://"),
    ("alert_webhook", "http://127.0.0.1.evil.example/", "https://"),
    ("alert_webhook", "http://127.0.0.1@evil.example/", "user name or password"),
    ("alert_webhook", "https://user:pw@hooks.example.org/", "user name or password"),
    ("alert_webhook", "http://localhost:9000/", "https://"), ("alert_webhook", "https:///nohost", "https://"),
    ("alert_webhook", "https://hooks.example.org:99999/", "Not a URL"),
])
def test_settings_refuse_bad_values_and_save_nothing(client, auth, field, value, message):
    auth.login()
    r = auth.post("/admin/settings", {**GOOD, field: value})
    assert r.status_code == 400
    assert message in r.text
    assert 'aria-invalid="true"' in r.text
    for key in GOOD:
        assert auth.store.get_setting(key) is None


@pytest.mark.parametrize("values", [
    GOOD, {"retention_days": "1", "alert_email": "", "alert_webhook": ""},
    {"retention_days": "3650", "alert_email": "a.b+pg@x.sch.uk", "alert_webhook": "http://127.0.0.1:9000/relay"},
    {"retention_days": " 30 ", "alert_email": "", "alert_webhook": "http://127.0.0.1/"},
])
def test_settings_save_good_values(app, client, auth, values):
    auth.login()
    r = auth.post("/admin/settings", values)
    assert r.status_code == 302
    store = auth.store
    assert store.get_setting("retention_days") == int(values["retention_days"])
    assert store.get_setting("alert_email", "") == values["alert_email"]
    assert store.get_setting("alert_webhook", "") == values["alert_webhook"]
    with app.app_context():
        assert app.extensions["postguard"].retention().default_days == int(values["retention_days"])
    change = audits(store, "change_settings")[0]["detail"]["changed"]
    assert change["retention_days"] == {"from": 90, "to": int(values["retention_days"])}
    assert "Settings saved" in client.get("/admin/settings").text


def test_settings_show_the_pack_in_use(client, auth, app):
    auth.login()
    html = client.get("/admin/settings").text
    pack = app.extensions["postguard"].engine.pack
    assert str(escape(pack.name)) in html and pack.id in html
    for rule_id, spec in pack.rules.items():
        assert f'{escape(rule_name(rule_id))} <code class="rule-id">{rule_id}</code>' in html  # in words, then the id
    assert "sanitise" in html and "high" in html


def test_verify_button_reports_an_intact_log_and_a_tampered_one(client, auth, seeded):
    auth.login()
    r = auth.post("/admin/settings/verify")
    assert r.status_code == 302
    assert f"The log is intact: {len(seeded)} events checked" in client.get("/admin/settings").text
    with auth.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET \"user\" = 'someone else' WHERE seq = 5")
    auth.post("/admin/settings/verify")
    html = client.get("/admin/settings").text
    assert "The log does not verify" in html and "event 5 was changed" in html
    assert [a["detail"]["ok"] for a in audits(auth.store, "verify_log")] == [False, True]


def test_purge_button_empties_events_past_retention(client, auth, store):
    old = Event(rule="location.gps", decision="warned", user="amy", time=utcnow() - timedelta(days=120))
    new = Event(rule="location.gps", decision="warned", user="amy", time=utcnow() - timedelta(days=2))
    store.append([old, new])
    auth.login()
    assert auth.post("/admin/settings/purge").status_code == 302
    assert store.get(old.id)["purged"] and store.get(old.id)["user"] is None
    assert not store.get(new.id)["purged"]
    assert audits(store, "purge")[0]["detail"]["events"] == 1
    assert "Removed the details of 1 event" in client.get("/admin/settings").text


# -- overview ----------------------------------------------------------------------------------------------------

def test_overview_draws_three_charts_from_the_last_thirty_days(client, auth, store):
    now = utcnow()
    events = make_events(90, start=now - timedelta(days=29, hours=-1), step=timedelta(hours=7))
    old = Event(rule="location.place", decision="blocked", user="zed", time=now - timedelta(days=40),
                path="https://old.example.org/x")
    store.append([*events, old])
    auth.login()
    html = client.get("/admin/").text
    assert html.count('<svg class="chart"') == 3
    assert 'role="img"' in html and "<title" in html
    assert "old.example.org" not in html  # outside the window
    assert f'<span class="stat-n">{len(events)}</span>' in html
    assert html.count("<rect x=") >= 30  # bars, not a placeholder
    assert audits(store, "view_overview")[0]["detail"]["events"] == len(events)


def test_overview_with_no_events_says_so(client, auth):
    auth.login()
    html = client.get("/admin/").text
    assert "No events yet" in html and '<svg class="chart"' not in html


def test_overview_escapes_what_the_log_says(client, auth, store):
    store.append(Event(rule="<script>alert(1)</script>", decision="warned", host="x.com", path="/a"))
    auth.login()
    html = client.get("/admin/").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


@pytest.mark.parametrize("top, step, axis", [(0, 1, 1), (3, 1, 3), (4, 1, 4), (17, 5, 20), (100, 50, 100),
                                             (1234, 500, 1500)])
def test_chart_axis_steps_are_round(top, step, axis):
    assert charts.ticks(top) == (step, axis)


def test_more_rules_than_colours_share_grey():
    per_day = [("2026-11-01", f"rule.{i}", 20 - i) for i in range(10)]
    colours = charts.rule_colours(per_day)
    assert list(colours)[:2] == ["rule.0", "rule.1"]
    assert len(set(list(colours.values())[:8])) == 8
    assert colours["rule.9"] == colours["rule.8"] == charts.OTHER


# -- privacy -----------------------------------------------------------------------------------------------------

def test_raw_database_never_holds_whole_posts_emails_or_images(client, auth, store):
    post = ("Lovely day at the seaside with Year 4! Thanks to everyone who helped on the trip, especially the "
            "parents who drove. Photos of the rock pools and the sandcastle competition below, back at 3pm. ") * 3
    email = "jane.doe.parent@example-family.co.uk"
    image = bytes(range(256)) * 8 + b"\xff\xd8\xff\xe1PG-UNIQUE-IMAGE-MARKER"
    e = Event(rule="location.gps", decision="warned", user="amy",
              evidence={"text": post, "match": f"contact {email}", "note": f"sent to {email} today",
                        "attachment": image, "post_preview": {"text": post, "thumb": image}})
    store.append(e)
    auth.login()
    client.get(f"/admin/events/{e.id}")
    client.get("/admin/export.csv")
    path = Path(store.url.split("///", 1)[1])
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the file, its WAL and shm
    assert e.id.encode() in raw  # the search does see the row
    assert post.encode() not in raw and post[:120].encode() not in raw
    assert email.encode() not in raw
    assert image not in raw and b"PG-UNIQUE-IMAGE-MARKER" not in raw
    shown = client.get(f"/admin/events/{e.id}").text + client.get("/admin/export.csv").text
    assert email not in shown and post[:120] not in shown
