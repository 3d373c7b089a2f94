"""Triage (issue 16 item 3): a post's events share a status (new, seen, action taken, no action needed), an assignee,
notes and a history; "my queue"; filters by status; the DPO reads and cannot change; every view and change is
audited under the account; a school's DSL triages only that school's posts on the trust server."""
import re
from datetime import timedelta

import pytest

from local_service.server import create_server_app
from local_service.services import Services
from rules.config import parse_config
from rules.record.events import Event
from rules.record.store import events as events_table

from .admin_helpers import T0, fast_hashing  # noqa: F401
from .test_accounts import Reviewer, make_account


def post_of(*rules, user="amy", at=T0, path="https://www.facebook.com/upload"):
    """The events one post raised: stored together, as the proxy stores them."""
    return [Event(rule=r, decision="warned", severity="high", user=user, device="laptop-1", path=path, source="proxy",
                  time=at + timedelta(milliseconds=3 * i), message=f"{r} found") for i, r in enumerate(rules)]


@pytest.fixture
def posts(store):
    one = post_of("location.gps", "pupil.image")
    two = post_of("personal_data.upn", user="ben", at=T0 + timedelta(hours=1))
    three = post_of("location.place", user="cat", at=T0 + timedelta(hours=2), path="https://x.com/post")
    store.append(one)
    store.append(two)
    store.append(three)
    return one, two, three


@pytest.fixture
def people(store):
    return {role: make_account(store, f"{role}@test-school.sch.uk", role)
            for role in ("dsl", "headteacher", "dpo", "reporting")}


def queue_links(html):
    return re.findall(r'href="/admin/triage/posts/([0-9a-f-]{36})"', html)


def test_a_post_with_two_findings_is_triaged_as_one(client, store, posts, people):
    one, two, three = posts
    r = Reviewer(client, store)
    r.login(people["dsl"])
    page = client.get(f"/admin/triage/posts/{one[1].id}")  # from either of its events
    assert page.status_code == 200
    assert "location.gps" in page.text and "pupil.image" in page.text and "personal_data.upn" not in page.text
    assert "Nobody has triaged this post yet" in page.text
    resp = r.post(f"/admin/triage/posts/{one[1].id}", {"status": "seen", "assignee": people["headteacher"],
                                                          "note": "Spoke to Amy; she removed it."})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/admin/triage/posts/{one[0].id}")
    state = store.triage_of([e.id for e in one + two])
    assert set(state) == {one[0].id, one[1].id}
    assert {(s["status"], s["assignee"], s["post"]) for s in state.values()} == \
        {("seen", people["headteacher"], one[0].id)}
    page = client.get(f"/admin/triage/posts/{one[0].id}").text
    assert "Spoke to Amy; she removed it." in page and "dsl@test-school.sch.uk set it to <strong>Seen</strong>" in page
    # the queue: one line for the post, filtered by status
    seen = client.get("/admin/triage/?status=seen").text
    assert queue_links(seen) == [one[0].id]
    new = client.get("/admin/triage/?status=new").text
    assert set(queue_links(new)) == {two[0].id, three[0].id}
    everything = client.get("/admin/triage/").text
    assert len(queue_links(everything)) == 3  # three posts, four events


def test_my_queue_is_what_is_assigned_to_me(client, store, posts, people):
    one, two, three = posts
    r = Reviewer(client, store)
    r.login(people["dsl"])
    r.post(f"/admin/triage/posts/{two[0].id}", {"status": "action_taken", "assignee": people["dsl"]})
    r.post(f"/admin/triage/posts/{three[0].id}", {"status": "seen", "assignee": people["headteacher"]})
    assert queue_links(client.get("/admin/triage/?mine=1").text) == [two[0].id]
    assert queue_links(client.get("/admin/triage/?mine=1&status=seen").text) == []
    r.logout()
    r.login(people["headteacher"])
    assert queue_links(client.get("/admin/triage/?mine=1").text) == [three[0].id]
    r.post(f"/admin/triage/posts/{three[0].id}", {"status": "no_action", "assignee": ""})
    assert queue_links(client.get("/admin/triage/?mine=1").text) == []
    history = store.triage_history(three[0].id)
    assert [(h["actor"], h["status"], h["assignee"]) for h in history] == [
        (people["dsl"], "seen", people["headteacher"]), (people["headteacher"], "no_action", None)]


def test_the_dpo_reads_and_cannot_change(client, store, posts, people):
    one = posts[0]
    r = Reviewer(client, store)
    r.login(people["dpo"])
    page = client.get(f"/admin/triage/posts/{one[0].id}")
    assert page.status_code == 200 and "Triage this post" not in page.text
    assert r.post(f"/admin/triage/posts/{one[0].id}", {"status": "seen"}).status_code == 403
    assert store.triage_of([one[0].id]) == {}


def test_reporting_sees_no_post(client, store, posts, people):
    r = Reviewer(client, store)
    r.login(people["reporting"])
    assert client.get("/admin/triage/").status_code == 403
    assert client.get(f"/admin/triage/posts/{posts[0][0].id}").status_code == 403


@pytest.mark.parametrize("form, message", [
    ({"status": "done"}, "the status must be one of"),
    ({"status": "seen", "assignee": "reporting@test-school.sch.uk"}, "an account that may triage"),
    ({"status": "seen", "assignee": "stranger@example.org"}, "an account that may triage"),
    ({"status": "seen", "note": "x" * 2001}, "at most 2000 characters"),
])
def test_a_bad_change_is_refused_and_saves_nothing(client, store, posts, people, form, message):
    r = Reviewer(client, store)
    r.login(people["dsl"])
    resp = r.post(f"/admin/triage/posts/{posts[0][0].id}", form)
    assert resp.status_code == 400 and message in resp.text
    assert store.triage_of([posts[0][0].id]) == {} and store.triage_history(posts[0][0].id) == []


def test_a_change_needs_the_csrf_token(client, store, posts, people):
    Reviewer(client, store).login(people["dsl"])
    resp = client.post(f"/admin/triage/posts/{posts[0][0].id}", data={"status": "seen"})
    assert resp.status_code == 400 and store.triage_of([posts[0][0].id]) == {}


def test_views_and_changes_are_audited_with_the_account(client, store, posts, people):
    r = Reviewer(client, store)
    r.login(people["dsl"])
    client.get("/admin/triage/?status=new")
    client.get(f"/admin/triage/posts/{posts[1][0].id}")
    r.post(f"/admin/triage/posts/{posts[1][0].id}", {"status": "seen", "note": "ok"})
    entries = {a["action"]: a for a in store.audit_entries(limit=100)}
    assert entries["view_triage"]["actor"] == people["dsl"] and entries["view_triage"]["detail"]["users"] == \
        ["amy", "ben", "cat"]
    assert entries["view_post"]["actor"] == people["dsl"] and entries["view_post"]["detail"]["user"] == "ben"
    assert entries["triage"]["detail"] == {"post": posts[1][0].id, "user": "ben", "status": "seen", "assignee": "",
                                           "note": True}


def test_an_unknown_post_is_404_and_a_bad_status_filter_400(client, store, posts, people):
    Reviewer(client, store).login(people["dsl"])
    assert client.get("/admin/triage/posts/00000000-0000-4000-8000-000000000000").status_code == 404
    assert client.get("/admin/triage/?status=closed").status_code == 400


def test_on_the_trust_server_a_dsl_triages_only_their_school(tmp_path):
    config = parse_config({"data_dir": str(tmp_path / "server")})
    svc = Services.open(config, database=f"sqlite:///{tmp_path / 'server.sqlite3'}", token="-", user="server")
    app = create_server_app(svc, {"TESTING": True, "SECRET_KEY": "t"})
    store = svc.store
    try:
        a, b = post_of("location.gps", "pupil.image"), post_of("location.gps", user="zoe", at=T0 + timedelta(hours=3))
        store.append(a)
        store.append(b)
        with store.engine.begin() as conn:
            conn.execute(events_table.update().where(events_table.c.id.in_([e.id for e in a])).values(school="A"))
            conn.execute(events_table.update().where(events_table.c.id.in_([e.id for e in b])).values(school="B"))
        dsl_a = make_account(store, "dsl@a.sch.uk", "dsl", ["A"])
        dsl_b = make_account(store, "dsl@b.sch.uk", "dsl", ["B"])
        client = app.test_client()
        r = Reviewer(client, store)
        r.login(dsl_a)
        assert queue_links(client.get("/admin/triage/").text) == [a[0].id]
        assert client.get(f"/admin/triage/posts/{b[0].id}").status_code == 404
        assert r.post(f"/admin/triage/posts/{b[0].id}", {"status": "seen"}).status_code == 404
        page = client.get(f"/admin/triage/posts/{a[0].id}").text
        assert dsl_a in page and dsl_b not in page  # only A's reviewers can be given A's post
        assert r.post(f"/admin/triage/posts/{a[0].id}", {"status": "seen", "assignee": dsl_b}).status_code == 400
        assert store.triage_of([b[0].id]) == {}
    finally:
        store.close()


def test_an_event_page_links_to_its_posts_triage(client, store, posts, people):
    Reviewer(client, store).login(people["dsl"])
    page = client.get(f"/admin/events/{posts[0][1].id}").text
    assert f'href="/admin/triage/posts/{posts[0][1].id}"' in page
    assert "pupil.image" in client.get(f"/admin/triage/posts/{posts[0][1].id}").text


def test_a_posts_triage_goes_when_retention_purges_its_events(client, store, posts, people):
    from rules.record.store import Retention

    one, two, three = posts  # from October 2026: past a 30-day retention now
    r = Reviewer(client, store)
    r.login(people["dsl"])
    r.post(f"/admin/triage/posts/{one[0].id}", {"status": "action_taken", "note": "Spoke to Amy about her post."})
    assert store.triage_history(one[0].id)
    store.purge(Retention(default_days=3650, per_rule={"location.gps": 30}))  # one of the post's two events
    assert store.triage_history(one[0].id) and store.triage_of([one[0].id])
    store.purge(Retention(default_days=30))  # the service's purge: the rest, and the listener forgets the post
    assert store.triage_history(one[0].id) == [] and store.triage_of([e.id for e in one]) == {}
