"""Named accounts and roles (issue 16 item 1): each role opens the views its role says and gets 403 on the others,
on a laptop's dashboard and on the trust server, with grants for all schools or chosen ones; every view is in the
audit log under the account that made it; TOTP as a second factor; a lockout per account; `postguard account`."""
import io
import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from local_service import accounts, auth as admin_auth, commands
from local_service.server import create_server_app
from local_service.services import Services
from rules.config import parse_config
from rules.record.events import Event, utcnow
from rules.record.store import Store, events as events_table

from .admin_helpers import PASSWORD, AuthActions, fast_hashing, make_events  # noqa: F401
from .rewind import rewind

SCHOOL = "Test School"  # the laptop's school (conftest's config)
STATUS = {"allowed": 200, "refused": 403}


class Reviewer(AuthActions):
    def login(self, email: str, password: str = PASSWORD, **extra):
        self.client.get("/admin/login")
        return self.client.post("/admin/login", data={"account": email, "password": password,
                                                      "csrf_token": self.csrf(), **extra})


def make_account(store, email, role, schools=None, password=PASSWORD):
    accounts.add(store, email, role, schools)
    accounts.set_password(store, email, password)
    return email


@pytest.fixture
def seeded(store):
    evs = make_events(12)
    store.append(evs)
    return evs


def audits(store, action):
    return [a for a in store.audit_entries(limit=1000) if a["action"] == action]


# Each view, and what each role gets there (a: allowed, r: refused 403).
VIEWS = {  # url: (trust_admin, school_it, dsl, headteacher, dpo, reporting)
    "/admin/": "aaaaaa",
    "/admin/events": "rraaar",
    "/admin/people/amy": "rraaar",
    "/admin/export.csv": "rraaar",
    "/admin/export.jsonl": "rraaar",
    "/admin/settings": "aarrrr",
    "/admin/audit": "rrrrar",
    "/admin/triage/": "rraaar",
}
ROLE_ORDER = ["trust_admin", "school_it", "dsl", "headteacher", "dpo", "reporting"]


@pytest.mark.parametrize("role", ROLE_ORDER)
def test_each_role_opens_its_views_and_gets_403_on_the_others(app, client, store, seeded, role):
    email = make_account(store, f"{role}@test-school.sch.uk", role)
    r = Reviewer(client, store)
    assert r.login(email).status_code == 302
    i = ROLE_ORDER.index(role)
    urls = {**VIEWS, f"/admin/events/{seeded[0].id}": VIEWS["/admin/events"]}
    for url, allowed in urls.items():
        resp = client.get(url)
        body = resp.get_data(as_text=True)
        want = 200 if allowed[i] == "a" else 403
        assert resp.status_code == want, (role, url, resp.status_code)
        if want == 403:
            assert "Finding number" not in body and "laptop-" not in body and seeded[0].id not in body
    # the overview's counts for every role; its recent high-severity events only for roles that hold events
    store.append(Event(rule="location.gps", decision="warned", severity="high", user="zed-the-teacher",
                       time=utcnow() - timedelta(hours=1)))
    overview = client.get("/admin/").get_data(as_text=True)
    assert ("zed-the-teacher" in overview) == (role in ("dsl", "headteacher", "dpo"))


@pytest.mark.parametrize("role, url, allowed", [
    ("school_it", "/admin/settings/verify", True), ("school_it", "/admin/settings/purge", False),
    ("trust_admin", "/admin/settings/purge", True), ("dpo", "/admin/settings/verify", False),
    ("dpo", "/admin/settings", False), ("reporting", "/admin/settings/verify", False),
])
def test_posts_are_refused_to_roles_without_them(client, store, seeded, role, url, allowed):
    email = make_account(store, f"{role}@test-school.sch.uk", role)
    r = Reviewer(client, store)
    r.login(email)
    resp = r.post(url, {"retention_days": "30", "alert_email": "", "alert_webhook": ""})
    assert (resp.status_code == 302) == allowed and (resp.status_code == 403) == (not allowed)
    assert bool(audits(store, "purge")) == (allowed and url.endswith("purge"))
    if url.endswith("/settings") and not allowed:
        assert store.get_setting("retention_days") is None


def test_every_view_is_in_the_audit_log_with_the_account(client, store, seeded):
    dsl = make_account(store, "dsl@test-school.sch.uk", "dsl")
    dpo = make_account(store, "dpo@test-school.sch.uk", "dpo")
    r = Reviewer(client, store)
    r.login(dsl)
    client.get("/admin/events")
    client.get("/admin/people/amy")
    client.get(f"/admin/events/{seeded[0].id}")
    client.get("/admin/export.csv").get_data()
    client.get("/admin/audit")  # refused: the refusal is recorded too
    r.logout()
    r.login(dpo)
    client.get("/admin/people/ben")
    for action in ("view_events", "view_person", "view_event", "export_csv"):
        assert [a["actor"] for a in audits(store, action)][-1:] == [dsl] or action == "view_person", action
    people = audits(store, "view_person")
    assert [(a["actor"], a["detail"]["user"]) for a in people] == [("dpo@test-school.sch.uk", "ben"),
                                                                     ("dsl@test-school.sch.uk", "amy")]
    assert [a["actor"] for a in audits(store, "refused")] == [dsl]
    assert {a["actor"] for a in audits(store, "login")} == {dsl, dpo}
    assert all(a["actor"] != "admin" for a in store.audit_entries(limit=1000))


def test_a_grant_for_another_school_opens_nothing_of_this_laptops(client, store, seeded):
    other = make_account(store, "dsl@mill-lane.sch.uk", "dsl", ["Mill Lane"])
    mine = make_account(store, "dsl@test-school.sch.uk", "dsl", [SCHOOL])
    r = Reviewer(client, store)
    r.login(other)
    assert client.get("/admin/events").status_code == 403
    assert client.get(f"/admin/events/{seeded[0].id}").status_code == 403
    assert client.get("/admin/").status_code == 403  # not even this laptop's counts
    r.logout()
    r.login(mine)
    assert client.get("/admin/events").status_code == 200


def test_a_removed_account_is_logged_out_at_once(app, client, store, seeded):
    email = make_account(store, "head@test-school.sch.uk", "headteacher")
    Reviewer(client, store).login(email)
    assert client.get("/admin/events").status_code == 200
    assert accounts.remove(store, email)
    resp = client.get("/admin/events")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/admin/login")


def test_an_account_without_a_password_cannot_log_in_with_one(client, store):
    accounts.add(store, "sso-only@test-school.sch.uk", "dsl")
    r = Reviewer(client, store)
    assert r.login("sso-only@test-school.sch.uk", "").status_code == 401
    assert r.login("sso-only@test-school.sch.uk", PASSWORD).status_code == 401


# -- TOTP --------------------------------------------------------------------------------------------------------

def test_totp_is_a_second_factor_and_a_code_is_good_once(client, store, monkeypatch):
    clock = [2_000_000_000.0]
    monkeypatch.setattr(admin_auth, "now", lambda: clock[0])
    email = make_account(store, "dpo@test-school.sch.uk", "dpo")
    uri = accounts.enrol_totp(store, email)
    assert uri.startswith("otpauth://totp/PostGuard:dpo%40test-school.sch.uk?secret=")
    totp = pyotp.parse_uri(uri)
    r = Reviewer(client, store)
    assert r.login(email).status_code == 401  # the password alone is not enough
    assert r.login(email, code="000000" if totp.at(clock[0]) != "000000" else "111111").status_code == 401
    assert r.login(email, PASSWORD + "x", code=totp.at(clock[0])).status_code == 401
    assert r.login(email, code=totp.at(clock[0])).status_code == 302
    r.logout()
    assert r.login(email, code=totp.at(clock[0])).status_code == 401  # the same code again
    clock[0] += 30
    assert r.login(email, code=totp.at(clock[0])).status_code == 302  # the next one
    assert [a["detail"]["method"] for a in audits(store, "login")] == ["password + TOTP"] * 2


def test_wrong_codes_count_towards_the_lockout(client, store, monkeypatch):
    monkeypatch.setattr(admin_auth, "now", lambda: 2_000_000_000.0)
    email = make_account(store, "dpo@test-school.sch.uk", "dpo")
    totp = pyotp.parse_uri(accounts.enrol_totp(store, email))
    r = Reviewer(client, store)
    for _ in range(admin_auth.MAX_FAILURES):
        assert r.login(email, code="123456" if totp.now() != "123456" else "654321").status_code == 401
    assert r.login(email, code=totp.at(2_000_000_000.0)).status_code == 429


def test_the_lockout_is_per_account(client, store, monkeypatch):
    monkeypatch.setattr(admin_auth, "now", lambda: 2_000_000_000.0)
    admin_auth.set_password(store, PASSWORD)
    dsl = make_account(store, "dsl@test-school.sch.uk", "dsl")
    r = Reviewer(client, store)
    for _ in range(admin_auth.MAX_FAILURES):
        r.login(dsl, "wrong password!")
    assert r.login(dsl).status_code == 429
    assert r.login("admin").status_code == 302  # another account is not locked out by it
    r.logout()
    for i in range(admin_auth.MAX_FAILURES):  # names that are no account share one count
        r.login(f"nobody{i}@test-school.sch.uk", "wrong password!")
    assert r.login("nobody-else@test-school.sch.uk").status_code == 429
    assert r.login(dsl).status_code == 429


# -- the trust server: grants per school -------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    config = parse_config({"data_dir": str(tmp_path / "server")})
    svc = Services.open(config, database=f"sqlite:///{tmp_path / 'server.sqlite3'}", token="-", user="server")
    app = create_server_app(svc, {"TESTING": True, "SECRET_KEY": "t"})
    evs = make_events(12)
    svc.store.append(evs)
    a, b = evs[:6], evs[6:]
    with svc.store.engine.begin() as conn:  # events as laptops of two schools forwarded them
        conn.execute(events_table.update().where(events_table.c.id.in_([e.id for e in a])).values(school="St Mary"))
        conn.execute(events_table.update().where(events_table.c.id.in_([e.id for e in b]))
                     .values(school="Mill Lane", user="zara-at-mill-lane"))
    svc.store.school_add("St Mary", "s" * 43)
    svc.store.school_add("Mill Lane", "m" * 43)
    yield app, svc.store, a, b
    svc.store.close()


def ids_on(html: str) -> set[str]:
    return set(re.findall(r"/admin/events/([0-9a-f-]{36})", html))


def test_the_dsl_of_one_school_sees_nothing_of_another(server):
    app, store, a, b = server
    client = app.test_client()
    dsl = make_account(store, "dsl@stmary.sch.uk", "dsl", ["St Mary"])
    r = Reviewer(client, store)
    assert r.login(dsl).status_code == 302
    listed = client.get("/admin/events").get_data(as_text=True)
    assert ids_on(listed) == {e.id for e in a}
    assert "zara-at-mill-lane" not in listed  # not even in the filters' drop-downs
    assert "zara-at-mill-lane" not in client.get("/admin/events?q=zara").get_data(as_text=True)
    assert ids_on(client.get("/admin/events?school=Mill+Lane").get_data(as_text=True)) == set()
    assert client.get(f"/admin/events/{b[0].id}").status_code == 404
    assert client.get(f"/admin/events/{a[0].id}").status_code == 200
    exported = client.get("/admin/export.jsonl").get_data(as_text=True)
    assert all(e.id in exported for e in a) and not any(e.id in exported for e in b)
    assert client.get("/admin/fleet/devices").status_code == 403
    schools = client.get("/admin/fleet/").get_data(as_text=True)
    assert "St Mary" in schools and "Mill Lane" not in schools


def test_a_grant_for_every_school_sees_both(server):
    app, store, a, b = server
    client = app.test_client()
    dpo = make_account(store, "dpo@trust.org.uk", "dpo")
    Reviewer(client, store).login(dpo)
    assert ids_on(client.get("/admin/events").get_data(as_text=True)) == {e.id for e in a + b}


def test_school_it_sees_device_health_and_no_event(server):
    app, store, a, b = server
    client = app.test_client()
    it = make_account(store, "it@stmary.sch.uk", "school_it", ["St Mary"])
    Reviewer(client, store).login(it)
    assert client.get("/admin/fleet/devices").status_code == 200
    for url in ["/admin/events", f"/admin/events/{a[0].id}", "/admin/people/amy", "/admin/export.csv",
                "/admin/export.jsonl", "/admin/audit", "/admin/triage/"]:
        assert client.get(url).status_code == 403, url


# -- the old admin password, and the commands --------------------------------------------------------------------

def test_an_old_installs_admin_password_becomes_the_admin_account(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    store = Store(url)
    old_hash = admin_auth.hasher.hash(PASSWORD)
    with store.engine.begin() as conn:  # as revision 0003 left it: the password hash in the settings
        rewind(conn, "0003")
    store.set_setting("admin_password_hash", old_hash)
    store.close()
    store = Store(url)
    try:
        row = store.account_get("admin")
        assert row["password_hash"] == old_hash and store.get_setting("admin_password_hash") is None
        assert accounts.Account.of(row).roles == ["dpo", "trust_admin"]
        assert admin_auth.check_password(store, PASSWORD)
    finally:
        store.close()


def run(store, monkeypatch, capsys, *argv, stdin=""):
    from local_service.cli import build_parser

    monkeypatch.setattr(commands, "open_store", lambda args: Store(store.url))
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    args = build_parser().parse_args(list(argv))
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_account_commands(store, monkeypatch, capsys):
    code, out, _ = run(store, monkeypatch, capsys, "account", "add", "DSL@StMary.sch.uk", "--role", "dsl",
                       "--school", "St Mary", "--school", "Mill Lane")
    assert code == 0 and "dsl@stmary.sch.uk: dsl (St Mary, Mill Lane); single sign-on only" in out
    code, _, err = run(store, monkeypatch, capsys, "account", "set-password", "dsl@stmary.sch.uk", stdin="short\n")
    assert code == 2 and "at least 10 characters" in err
    assert run(store, monkeypatch, capsys, "account", "set-password", "dsl@stmary.sch.uk",
               stdin="a good long password\n")[0] == 0
    assert admin_auth.check_password(store, "a good long password", "dsl@stmary.sch.uk")
    code, out, _ = run(store, monkeypatch, capsys, "account", "totp", "dsl@stmary.sch.uk")
    assert code == 0 and re.search(r"^otpauth://totp/PostGuard:dsl%40stmary.sch.uk\?secret=[A-Z2-7]{32}", out, re.M)
    code, out, _ = run(store, monkeypatch, capsys, "account", "add", "dsl@stmary.sch.uk", "--role", "reporting")
    code, out, _ = run(store, monkeypatch, capsys, "account", "list")
    assert "dsl@stmary.sch.uk: dsl (St Mary, Mill Lane), reporting (all schools); password + TOTP" in out
    code, _, err = run(store, monkeypatch, capsys, "account", "add", "not-an-address", "--role", "dsl")
    assert code == 2 and "not an e-mail address" in err
    with pytest.raises(SystemExit):
        run(store, monkeypatch, capsys, "account", "add", "x@y.org", "--role", "superuser")
    assert run(store, monkeypatch, capsys, "account", "remove", "dsl@stmary.sch.uk")[0] == 0
    assert store.account_get("dsl@stmary.sch.uk") is None
    assert run(store, monkeypatch, capsys, "account", "remove", "dsl@stmary.sch.uk")[0] == 2


def test_admin_set_password_still_makes_the_admin_account(store, monkeypatch, capsys):
    assert run(store, monkeypatch, capsys, "admin", "set-password", stdin="the admin password\n")[0] == 0
    row = store.account_get("admin")
    assert accounts.Account.of(row).roles == ["dpo", "trust_admin"]
    assert admin_auth.check_password(store, "the admin password")


def test_a_named_accounts_attempts_are_counted_atomically_on_its_own_count(store_url, monkeypatch):
    """The lockout that holds under parallel guesses (test_login_security) holds for every account: 20 threads
    guessing one named account's password get exactly the limit of checks, on SQLite and PostgreSQL."""
    import threading

    monkeypatch.setattr(admin_auth, "now", lambda: 2_000_000_000.0)
    store = Store(store_url)
    try:
        email = make_account(store, "dsl@test-school.sch.uk", "dsl")
        key = admin_auth.failures_key(store, email)
        assert key not in (admin_auth.FAILURES_SETTING, admin_auth.UNKNOWN_FAILURES)
        let_through, start = [], threading.Barrier(20)

        def attempt():
            start.wait()
            if admin_auth.begin_attempt(store, 5, 60, key) == 0:
                let_through.append(1)

        threads = [threading.Thread(target=attempt) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(let_through) == 5
        assert admin_auth.lockout_remaining(store, key) == 60
        assert admin_auth.lockout_remaining(store) == 0  # the admin account's count is untouched
    finally:
        store.close()


def test_every_dashboard_view_says_which_roles_open_it(app, server):
    """A page missing from accounts.VIEWS is open only to the old admin's roles: every page should be placed."""
    for flask_app in (app, server[0]):
        for rule in flask_app.url_map.iter_rules():
            if rule.rule.startswith("/admin") and rule.endpoint != "admin.login" \
                    and not rule.endpoint.startswith("sso."):
                assert rule.endpoint in accounts.VIEWS, f"{rule.endpoint} ({rule.rule}): add it to accounts.VIEWS"


def test_a_password_change_ends_that_accounts_sessions_only(app, store, seeded):
    admin_auth.set_password(store, PASSWORD)
    dsl = make_account(store, "dsl@test-school.sch.uk", "dsl")
    a, b = app.test_client(), app.test_client()
    Reviewer(a, store).login("admin")
    Reviewer(b, store).login(dsl)
    admin_auth.set_password(store, "another admin password")
    assert a.get("/admin/events").status_code == 302 and b.get("/admin/events").status_code == 200
    Reviewer(a, store).login("admin", "another admin password")
    accounts.set_password(store, dsl, "another dsl password")
    assert a.get("/admin/events").status_code == 200 and b.get("/admin/events").status_code == 302


def test_a_grant_without_schools_opens_no_school():
    account = accounts.Account.of({"email": "x@y.sch.uk", "grants": [{"role": "dsl", "schools": []},
                                                                     {"role": "nonsense", "schools": ["*"]}]})
    assert account.roles == ["dsl"] and account.schools("events") == () and not account.may_see_school("events", "A")
    assert accounts.Account.of({"email": "x@y.sch.uk", "grants": [{"role": "dsl", "schools": ["*"]}]}) \
        .schools("events") is None
