"""Login and sessions under attack: parallel guesses get no more password checks than the lockout allows (on SQLite
and PostgreSQL, through a real HTTP server), and a session ends on the server, so a copy of its cookie taken before
logout, a password change or the idle timeout is refused."""
import http.client
import re
import threading
import time
from http.cookies import SimpleCookie

import pytest

from local_service import auth as admin_auth
from local_service.app import create_app
from local_service.services import Services
from rules.config import parse_config

from .admin_helpers import PASSWORD, AuthActions, auth, fast_hashing, make_events  # noqa: F401

GUESSERS = 30
LOCKOUT_S = 7  # the app's ADMIN_LOCKOUT_S here: the period is configurable, and the tests move the clock


class CountingHasher:
    """The hasher the service uses, counting its verifications; each takes a little longer, as a real argon2 does,
    so that parallel requests really overlap."""

    def __init__(self, inner):
        self.inner = inner
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, stored, password):
        with self._lock:
            self.verified += 1
        time.sleep(0.05)
        return self.inner.verify(stored, password)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def clock(monkeypatch):
    now = [3_000_000.0]
    monkeypatch.setattr(admin_auth, "now", lambda: now[0])
    return now


@pytest.fixture
def counting(monkeypatch, fast_hashing):  # noqa: F811
    hasher = CountingHasher(admin_auth.hasher)
    monkeypatch.setattr(admin_auth, "hasher", hasher)
    return hasher


@pytest.fixture
def served(tmp_path, store_url, counting):
    """The app on the store under test, served by werkzeug on 127.0.0.1 and a free port, with threads."""
    from werkzeug.serving import make_server

    config = parse_config({"data_dir": str(tmp_path / "data"), "school": {"name": "Test School"}})
    app = create_app({"SECRET_KEY": "login-test-secret", "ADMIN_LOCKOUT_S": LOCKOUT_S},
                     Services.open(config, database=store_url, token="login-test-token-0123", user="teacher1"))
    store = app.extensions["postguard"].store
    admin_auth.set_password(store, PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.request_queue_size = 64
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, store
    server.shutdown()
    thread.join(5)
    store.close()


def _request(port, method, path, cookie="", body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    jar = SimpleCookie(resp.getheader("Set-Cookie") or "")
    conn.close()
    return resp.status, text, (f"session={jar['session'].value}" if "session" in jar else cookie)


def _login_form(port):
    """A fresh browser's session cookie and the login form's CSRF token."""
    status, html, cookie = _request(port, "GET", "/admin/login")
    assert status == 200
    return cookie, re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _post_password(port, cookie, token, password):
    from urllib.parse import urlencode

    return _request(port, "POST", "/admin/login", cookie, urlencode({"password": password, "csrf_token": token}))


def test_thirty_parallel_wrong_passwords_get_no_more_checks_than_the_limit(served, counting, clock):
    port, store = served
    forms = [_login_form(port) for _ in range(GUESSERS)]
    counting.verified = 0
    start = threading.Barrier(GUESSERS)
    statuses = [None] * GUESSERS

    def guess(i):
        cookie, token = forms[i]
        start.wait()
        statuses[i] = _post_password(port, cookie, token, f"wrong password {i:04d}")[0]

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    print(f"{counting.verified} of {GUESSERS} parallel wrong passwords were checked "
          f"(limit {admin_auth.MAX_FAILURES}); statuses {sorted(statuses)}")
    assert counting.verified <= admin_auth.MAX_FAILURES
    assert statuses.count(401) == counting.verified >= 1  # every checked guess was told "not right"
    assert statuses.count(429) == GUESSERS - counting.verified  # every other one was refused unchecked

    # Even the right password is refused, unchecked, while logins are locked ...
    cookie, token = _login_form(port)
    status, html, _ = _post_password(port, cookie, token, PASSWORD)
    assert status == 429 and f"Wait {LOCKOUT_S} seconds" in html
    assert counting.verified <= admin_auth.MAX_FAILURES
    clock[0] += LOCKOUT_S - 1
    assert _post_password(port, cookie, token, PASSWORD)[0] == 429
    # ... and the lockout ends after its (configured) period.
    clock[0] += 1.5
    status, _, cookie = _post_password(port, cookie, token, PASSWORD)
    assert status == 302
    assert _request(port, "GET", "/admin/events", cookie)[0] == 200


def test_attempts_are_counted_atomically_in_the_store(store_url, clock):
    """begin_attempt straight on the store, from many threads at once: exactly the limit is let through."""
    from rules.record.store import Store

    store = Store(store_url)
    try:
        let_through, start = [], threading.Barrier(20)

        def attempt():
            start.wait()
            if admin_auth.begin_attempt(store, 5, 60) == 0:
                let_through.append(1)

        threads = [threading.Thread(target=attempt) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(let_through) == 5
        assert admin_auth.lockout_remaining(store) == 60
        clock[0] += 61
        assert admin_auth.begin_attempt(store, 5, 60) == 0
    finally:
        store.close()


# -- sessions end on the server ----------------------------------------------------------------------------------

@pytest.fixture
def seeded(store):
    events = make_events(10)
    store.append(events)
    return events


def _copy_of_cookie(app, client):
    """Another browser holding a copy of `client`'s session cookie."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _refused(client, seeded):
    r = client.get("/admin/export.csv")
    status, body = r.status_code, r.text  # read it all, whatever the status: an export is a stream
    assert status == 401 and seeded[0].id not in body and "Finding number" not in body
    r = client.get("/admin/events")
    assert r.status_code == 302 and r.headers["Location"].startswith("/admin/login")
    return True


def _works(client, seeded):
    r = client.get("/admin/export.csv")
    status, body = r.status_code, r.text
    assert status == 200 and seeded[0].id in body
    assert client.get("/admin/events").status_code == 200
    return True


def test_a_cookie_copied_before_logout_is_refused_after_it(app, client, auth, seeded):  # noqa: F811
    auth.login()
    copy = _copy_of_cookie(app, client)
    assert _works(copy, seeded)
    assert auth.logout().status_code == 302
    assert _refused(copy, seeded)
    assert _refused(client, seeded)


def test_a_cookie_from_before_a_password_change_is_refused(app, client, auth, seeded):  # noqa: F811
    auth.login()
    copy = _copy_of_cookie(app, client)
    assert _works(copy, seeded)
    admin_auth.set_password(auth.store, "a brand new password")
    assert _refused(copy, seeded)
    assert _refused(client, seeded)
    assert auth.login("a brand new password").status_code == 302  # the new password logs in again
    assert _works(client, seeded)


def test_the_set_password_command_ends_every_session(app, client, auth, seeded, tmp_path, monkeypatch):  # noqa: F811
    import argparse
    import io

    from local_service import commands

    auth.login()
    copy = _copy_of_cookie(app, client)
    assert _works(copy, seeded)
    monkeypatch.setattr(commands, "open_store", lambda args: type(auth.store)(auth.store.url))
    monkeypatch.setattr("sys.stdin", io.StringIO("another new password\n"))
    assert commands.cmd_admin_set_password(argparse.Namespace()) == 0
    assert _refused(copy, seeded)


def test_an_idle_session_is_refused_for_every_copy_of_its_cookie(app, client, auth, seeded, clock):  # noqa: F811
    auth.login()
    copy = _copy_of_cookie(app, client)
    clock[0] += 29 * 60
    assert _works(copy, seeded)  # using either copy is activity for the one session
    clock[0] += 29 * 60
    assert client.get("/admin/").status_code == 200
    clock[0] += 31 * 60
    assert _refused(copy, seeded)
    assert _refused(client, seeded)
    clock[0] -= 30 * 60  # the session is gone from the server: not merely too old for this clock
    assert _refused(copy, seeded)


def test_a_signed_cookie_without_a_server_session_is_refused(app, client, auth, seeded, clock):  # noqa: F811
    """What a cookie held before this change looked like: signed, 'admin', recently seen, but no session id."""
    with client.session_transaction() as session:
        session.update({"admin": True, "admin_seen": clock[0], "csrf": "x" * 43})
    assert _refused(client, seeded)
    with client.session_transaction() as session:
        session.update({"admin": True, "admin_seen": clock[0], "sid": "made-up-session-id"})
    assert _refused(client, seeded)
