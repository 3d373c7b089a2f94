"""The admin's password (argon2), login throttling, the session's idle timeout and the forms' CSRF token.

One admin password per install, set from the command line (`postguard admin set-password`) and kept as an argon2
hash in the store's settings. Login attempts are counted in the store too, atomically and before the password is
checked, so parallel guesses, several workers or a restart do not get past the lockout. Sessions are kept in the
store as well, so logout, a password change and the idle timeout end them on the server.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PASSWORD_SETTING = "admin_password_hash"
FAILURES_SETTING = "admin_login_failures"
MIN_LENGTH = 10
MAX_FAILURES = 5  # failed logins in a row before a lockout
LOCKOUT_S = 30
IDLE_S = 30 * 60  # a logged-in session unused this long must log in again
ACCOUNT = "admin"  # the one dashboard account

hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) defaults


@functools.cache
def _dummy_hash(h: PasswordHasher) -> str:
    """Checked when no password is set, so a wrong guess costs the same time either way."""
    return h.hash(secrets.token_urlsafe(16))


def now() -> float:
    """The clock the lockout and idle timeout read (tests replace it)."""
    return time.time()


# -- the password ------------------------------------------------------------------------------------------------

def set_password(store, password: str) -> None:
    """Hash and store the admin password; ValueError if it is too short."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        got = len(password) if isinstance(password, str) else 0
        raise ValueError(f"the admin password must be at least {MIN_LENGTH} characters long (got {got})")
    store.set_setting(PASSWORD_SETTING, hasher.hash(password))
    store.set_setting(FAILURES_SETTING, {"count": 0, "until": 0})
    store.admin_sessions_end()  # a new password logs every session out, on the server


def password_is_set(store) -> bool:
    return bool(store.get_setting(PASSWORD_SETTING))


def check_password(store, password: str) -> bool:
    stored = store.get_setting(PASSWORD_SETTING)
    try:
        hasher.verify(stored or _dummy_hash(hasher), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if not stored:
        return False
    if hasher.check_needs_rehash(stored):
        store.set_setting(PASSWORD_SETTING, hasher.hash(password))
    return True


# -- throttling --------------------------------------------------------------------------------------------------
#
# Every attempt is counted BEFORE its (slow, argon2) password check, in one atomic read-modify-write in the store
# (Store.update_setting: the settings row locked for the transaction, on SQLite and PostgreSQL alike). The attempt
# that reaches MAX_FAILURES starts the lockout as it is counted, so however many guesses arrive at once, at most
# MAX_FAILURES passwords are checked per lockout period, across threads, gunicorn workers and restarts.
# Why not a rate-limiting library: `limits` (behind Flask-Limiter) keeps its counters in memory (per process, so
# each worker would allow its own MAX_FAILURES and a restart forgets them) or in Redis/Memcached/MongoDB/etcd,
# servers a school laptop does not run. The store already is the one shared, durable, transactional place.

def _lockout_left(until: float, t: float) -> int:
    return max(0, int(until - t + 0.999))


def begin_attempt(store, max_failures: int = MAX_FAILURES, lockout_s: float = LOCKOUT_S) -> int:
    """Count a login attempt before its password is checked. 0: check it; else the seconds of lockout left (do not
    check it: it was not counted)."""
    t = now()

    def change(state):
        state = state if isinstance(state, dict) else {}
        count, until = state.get("count", 0), state.get("until", 0)
        count = count if isinstance(count, int) else max_failures
        until = until if isinstance(until, (int, float)) else t + lockout_s
        if until > t:
            return {"count": count, "until": until}, _lockout_left(until, t)
        if count + 1 >= max_failures:  # this attempt is the last one allowed: lock the ones after it
            return {"count": 0, "until": t + lockout_s}, 0
        return {"count": count + 1, "until": until}, 0

    return store.update_setting(FAILURES_SETTING, change, {"count": 0, "until": 0})


def lockout_remaining(store) -> int:
    """Seconds until the next login attempt is allowed (0: now)."""
    state = store.get_setting(FAILURES_SETTING) or {}
    until = state.get("until", 0) if isinstance(state, dict) else 0
    return _lockout_left(until if isinstance(until, (int, float)) else 0, now())


def clear_failures(store) -> None:
    store.set_setting(FAILURES_SETTING, {"count": 0, "until": 0})


# -- the session -------------------------------------------------------------------------------------------------
#
# Flask's session is a signed cookie held by the browser: clearing it on logout does not stop a copy of it from
# working. So each login gets a random session id, kept in the store (as its SHA-256) with the account and the times
# it was created and last used, and carried in the cookie; every dashboard request checks it there. Logout, a
# password change and the idle timeout delete it, which ends the session for every copy of the cookie.

def _sid_key(sid) -> str:
    return hashlib.sha256(str(sid).encode()).hexdigest()


def start_session(session, store, account: str = ACCOUNT) -> None:
    """A fresh session for a logged-in admin: nothing from before login survives, a new server-side session id and
    a new CSRF token."""
    old = session.get("sid")
    if old:
        store.admin_session_delete(_sid_key(old))
    session.clear()
    t = now()
    store.admin_sessions_end(idle_before=t - 24 * 3600)  # forget sessions long dead (they are refused anyway)
    sid = secrets.token_urlsafe(32)
    store.admin_session_create(_sid_key(sid), account, t)
    session.permanent = True
    session["admin"] = True
    session["sid"] = sid
    session["csrf"] = secrets.token_urlsafe(32)


def end_session(session, store) -> None:
    sid = session.get("sid")
    if sid:
        store.admin_session_delete(_sid_key(sid))
    session.clear()


def session_state(session, store, idle_s: float = IDLE_S) -> str:
    """"in", "out" or "idle" (logged in, but unused for longer than idle_s: now logged out, on the server too).
    Touches the session. A cookie whose session id the store no longer has (logged out, password changed) is
    "out"."""
    if not session.get("admin"):
        return "out"
    sid = session.get("sid")
    if not isinstance(sid, str) or not sid:
        session.clear()
        return "out"
    state = store.admin_session_touch(_sid_key(sid), now(), idle_s)
    if state != "in":
        session.clear()
        return state
    return "in"  # last seen is kept on the server (admin_session_touch), which is what the idle timeout reads


def csrf_token(session) -> str:
    """The session's CSRF token, created on first use; every POST form carries it in a hidden field."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session, sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(str(expected).encode(), str(sent).encode())
