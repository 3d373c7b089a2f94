"""The store's side of accounts and triage, on SQLite and a real PostgreSQL server: a post's events found together,
triage rows and history, the queue's status and assignee filters with keyset paging, the school scope, TOTP steps
taken once, and the migration of an old install's admin password."""
from datetime import timedelta

import sqlalchemy as sa

from rules.record.events import Event
from rules.record.store import ScopedFilter, Store, events as events_table

from .admin_helpers import T0
from .rewind import rewind


def post(user, at, *rules, path="https://www.instagram.com/upload"):
    return [Event(rule=r, decision="warned", severity="medium", user=user, device="d1", path=path, source="proxy",
                  time=at + timedelta(milliseconds=i)) for i, r in enumerate(rules)]


def test_posts_triage_and_the_queue(store_url):
    store = Store(store_url)
    try:
        p1 = post("amy", T0, "location.gps", "pupil.image")
        p2 = post("amy", T0 + timedelta(seconds=30), "location.gps")  # the same person and page, later: another post
        p3 = post("ben", T0 + timedelta(hours=1), "personal_data.upn")
        for p in (p1, p2, p3):
            store.append(p)
        assert [r["id"] for r in store.post_events(p1[1].id)] == [p1[0].id, p1[1].id]
        assert [r["id"] for r in store.post_events(p2[0].id)] == [p2[0].id]
        assert store.post_events("00000000-0000-4000-8000-000000000000") == []

        store.triage_set(p1[0].id, [e.id for e in p1], "seen", "dsl@x.sch.uk", "dsl@x.sch.uk", "looked")
        store.triage_set(p1[0].id, [e.id for e in p1], "action_taken", None, "head@x.sch.uk")
        state = store.triage_of([e.id for e in p1 + p2])
        assert {k: (v["status"], v["assignee"], v["post"]) for k, v in state.items()} == {
            p1[0].id: ("action_taken", None, p1[0].id), p1[1].id: ("action_taken", None, p1[0].id)}
        assert [(h["actor"], h["status"], h["assignee"], h["note"]) for h in store.triage_history(p1[0].id)] == [
            ("dsl@x.sch.uk", "seen", "dsl@x.sch.uk", "looked"), ("head@x.sch.uk", "action_taken", None, None)]

        def ids(**kw):
            return [r["id"] for r in store.triage_list(**kw).rows]

        assert ids(status="new") == [p3[0].id, p2[0].id]
        assert ids(status="action_taken") == [p1[1].id, p1[0].id]
        assert ids(status="seen") == []
        store.triage_set(p3[0].id, [p3[0].id], "seen", "dsl@x.sch.uk", "dsl@x.sch.uk")
        assert ids(assignee="dsl@x.sch.uk") == [p3[0].id]
        page = store.triage_list(limit=2)
        assert [r["triage_status"] for r in page.rows] == ["seen", "new"] and page.next_cursor
        rest = store.triage_list(limit=2, cursor=page.next_cursor)
        assert [r["id"] for r in rest.rows] == [p1[1].id, p1[0].id] and rest.next_cursor is None

        with store.engine.begin() as conn:
            conn.execute(events_table.update().where(events_table.c.id == p3[0].id).values(school="B"))
            conn.execute(events_table.update().where(events_table.c.id != p3[0].id).values(school="A"))
        assert ids(flt=ScopedFilter(schools=("A",))) == [p2[0].id, p1[1].id, p1[0].id]
        assert ids(flt=ScopedFilter(schools=())) == []
        assert store.count(ScopedFilter(schools=("B",))) == 1 and store.count(ScopedFilter(schools=None)) == 4
    finally:
        store.close()


def test_accounts_and_totp_steps(store_url):
    store = Store(store_url)
    try:
        assert store.account_put("a@x.sch.uk", [{"role": "dsl", "schools": ["A"]}])
        assert not store.account_put("a@x.sch.uk", [{"role": "dpo", "schools": ["*"]}])
        assert store.account_get("a@x.sch.uk")["grants"] == [{"role": "dpo", "schools": ["*"]}]
        assert store.account_update("a@x.sch.uk", password_hash="h", totp_secret="S")
        assert not store.account_update("nobody@x.sch.uk", password_hash="h")
        assert store.account_totp_step("a@x.sch.uk", 100)
        assert not store.account_totp_step("a@x.sch.uk", 100) and not store.account_totp_step("a@x.sch.uk", 99)
        assert store.account_totp_step("a@x.sch.uk", 101)
        store.admin_session_create("s1", "a@x.sch.uk", 1.0)
        assert store.admin_session_account("s1") == "a@x.sch.uk"
        assert store.account_remove("a@x.sch.uk") and store.admin_session_account("s1") is None
        assert store.accounts_all() == []
    finally:
        store.close()


def test_the_migration_turns_the_old_admin_password_into_an_account(store_url):
    store = Store(store_url)
    with store.engine.begin() as conn:
        rewind(conn, "0003")
    store.set_setting("admin_password_hash", "$argon2id$v=19$m=65536,t=3,p=4$old")
    store.close()
    store = Store(store_url)
    try:
        row = store.account_get("admin")
        assert row["password_hash"] == "$argon2id$v=19$m=65536,t=3,p=4$old"
        assert [g["role"] for g in row["grants"]] == ["trust_admin", "dpo"]
        assert store.get_setting("admin_password_hash") is None
    finally:
        store.close()


def test_triage_is_forgotten_when_all_its_posts_events_are_purged(store_url):
    from rules.record.store import Retention

    store = Store(store_url)
    try:
        p1, p2 = post("amy", T0, "location.gps", "pupil.image"), post("ben", T0, "location.gps")
        store.append(p1)
        store.append(p2)
        store.triage_set(p1[0].id, [e.id for e in p1], "seen", None, "dsl@x.sch.uk", "a note about Amy")
        store.triage_set(p2[0].id, [e.id for e in p2], "seen", None, "dsl@x.sch.uk", "a note about Ben")
        with store.engine.begin() as conn:  # Ben's post purged, and one of Amy's two events
            conn.execute(events_table.update().where(events_table.c.id.in_([p2[0].id, p1[0].id]))
                         .values(purged=True, user=None))
        assert store.triage_forget_purged() == 1
        assert store.triage_history(p2[0].id) == [] and store.triage_of([p2[0].id]) == {}
        assert [h["note"] for h in store.triage_history(p1[0].id)] == ["a note about Amy"]
        assert store.triage_forget_purged() == 0
        store.purge(Retention(default_days=1))
        assert store.triage_forget_purged() == 1 and store.triage_history(p1[0].id) == []
    finally:
        store.close()
