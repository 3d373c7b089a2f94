"""The staff page: a two-minute signed link from the extension opens a person's own record, and nobody else's."""
import re
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from markupsafe import escape

from local_service import explain
from local_service.tickets import issue_staff_ticket
from rules.record.events import Event

from .admin_helpers import make_events, newest_first


@pytest.fixture
def seeded(store):
    events = make_events()
    store.append(events)
    return events


def ticket_for(app, user: str) -> str:
    with app.test_request_context():
        return issue_staff_ticket(user)


def staff_event_times(html: str) -> int:
    return len(re.findall(r'<article class="card staff-event"', html))


def open_record(app, client, user: str):
    r = client.get(f"/me/{ticket_for(app, user)}")
    assert r.status_code == 200
    return client.get("/me")


def test_a_valid_ticket_opens_the_persons_own_events_only(app, client, seeded):
    r = client.get(f"/me/{ticket_for(app, 'amy')}")
    assert r.status_code == 200
    assert '<meta http-equiv="refresh" content="0; url=/me">' in r.text  # same-site, so the cookie goes too
    with client.session_transaction() as session:
        assert session["staff_user"] == "amy"
    html = client.get("/me").text
    amy = [e for e in seeded if e.user == "amy"]
    assert staff_event_times(html) == len(amy)
    for i, e in enumerate(seeded):
        assert (f"Finding number {i}." in html) == (e.user == "amy")


def test_a_query_cannot_show_someone_elses_events(app, client, seeded):
    open_record(app, client, "amy")
    html = client.get("/me?user=ben").text
    assert "Signed in as <strong>amy</strong>" in html and "ben" not in html


@pytest.mark.parametrize("ticket", ["not-a-ticket", "eyJ1c2VyIjoiYmVuIn0.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb", ""])
def test_garbage_tickets_are_refused(client, seeded, ticket):
    r = client.get(f"/me/{ticket}")
    assert r.status_code in (403, 404)
    with client.session_transaction() as session:
        assert "staff_user" not in session


def test_a_ticket_signed_with_another_key_is_refused(client, seeded):
    forged = URLSafeTimedSerializer("not-the-secret", salt="staff-record").dumps({"user": "ben", "nonce": "00"})
    r = client.get(f"/me/{forged}")
    assert r.status_code == 403
    assert "expired or is not valid" in r.text
    assert client.get("/me").status_code == 403


def test_a_tampered_ticket_is_refused(app, client, seeded):
    ticket = ticket_for(app, "amy")
    payload, rest = ticket.split(".", 1)
    other = ticket_for(app, "ben").split(".", 1)[0]
    assert client.get(f"/me/{other}.{rest}").status_code == 403


def test_an_expired_ticket_is_refused(app, client, seeded, monkeypatch):
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 121)
    old = ticket_for(app, "amy")
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 110)
    recent = ticket_for(app, "amy")
    monkeypatch.undo()
    assert client.get(f"/me/{old}").status_code == 403
    assert client.get(f"/me/{recent}").status_code == 200


def test_without_a_ticket_the_page_says_to_open_it_from_the_extension(client, seeded):
    r = client.get("/me")
    assert r.status_code == 403
    assert "Open this page from the PostGuard extension" in r.text
    assert "Finding number" not in r.text


def test_the_page_says_what_is_kept_how_long_and_who_sees_it(app, client, store, seeded):
    store.set_setting("retention_days", 45)
    html = open_record(app, client, "ben").text
    pack = app.extensions["postguard"].engine.pack
    for text in ["What is recorded", "What is not recorded", "How long it is kept", "45 days", "Who can see it",
                 "safeguarding lead", "audit log", pack.name]:
        assert text in html, text


def test_each_event_is_explained_in_plain_english(app, client, store):
    store.append([Event(rule="location.gps", decision="sanitised", user="amy", host="x.com", path="/a",
                        clauses=[{"ref": "6.9", "text": "Images of pupils must not be published."}]),
                  Event(rule="location.place", decision="overridden", user="amy", reason="No pupils shown",
                        time=Event(rule="x", decision="warned").time - timedelta(minutes=1))])
    html = open_record(app, client, "amy").text
    for text in [explain.RULES["location.gps"], explain.DECISIONS["sanitised"], explain.RULES["location.place"],
                 "No pupils shown", "Images of pupils must not be published."]:
        assert str(escape(text)) in html, text


def test_unknown_rules_and_decisions_still_get_a_sentence():
    assert "GPS coordinates" in explain.rule_meaning("location.gps")
    assert explain.rule_meaning("no.such.rule").startswith("A check from your school's social media policy")
    assert all(explain.decision_meaning(d) for d in explain.DECISIONS)


def test_a_long_record_pages_with_an_older_link(app, client, store):
    events = [e for e in make_events(200) if e.user == "amy"]
    store.append(events)
    html = open_record(app, client, "amy").text
    assert staff_event_times(html) == 50
    link = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert staff_event_times(client.get(link).text) == len(events) - 50


def test_a_staff_session_is_not_an_admin_session(app, client, seeded):
    open_record(app, client, "amy")
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/export.csv").status_code == 401


def test_the_gate_refuses_a_foreign_host_or_origin(app, client, seeded):
    ticket = ticket_for(app, "amy")
    assert client.get(f"/me/{ticket}", headers={"Host": "evil.example"}).status_code == 421
    assert client.get(f"/me/{ticket}", headers={"Origin": "https://evil.example"}).status_code == 403
    with client.session_transaction() as session:
        assert "staff_user" not in session


def test_the_staff_page_newest_first(app, client, seeded):
    html = open_record(app, client, "cat").text
    numbers = [int(n) for n in re.findall(r"Finding number (\d+)\.", html)]
    cat = newest_first(e for e in seeded if e.user == "cat")
    assert numbers == [next(i for i, e in enumerate(seeded) if e.id == eid) for eid in cat]


def test_a_staff_link_works_once(app, client):
    from local_service.tickets import issue_staff_ticket
    with app.test_request_context():
        ticket = issue_staff_ticket("teacher1")
    first = client.get(f"/me/{ticket}")
    assert first.status_code in (200, 302)
    other = app.test_client()
    assert other.get(f"/me/{ticket}").status_code == 403
