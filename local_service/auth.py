"""Passwords (argon2), login throttling, the session's idle timeout and the forms' CSRF token.

Each reviewer has a named account in the store (accounts.py); a password account's argon2 hash is kept there. The
account "admin" is the one login of installs from before named accounts, set from the command line (`postguard admin
set-password`). Login attempts are counted in the store too, per account, atomically and before the password is
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

FAILURES_SETTING = "admin_login_failures"  # the account "admin"'s; other accounts' are named by failures_key()
UNKNOWN_FAILURES = "login_failures:?"  # names that are no account share one count
MIN_LENGTH = 10
MAX_FAILURES = 5  # failed logins in a row before a lockout
LOCKOUT_S = 30
IDLE_S = 30 * 60  # a logged-in session unused this long must log in again
ACCOUNT = "admin"  # the dashboard account of installs from before named accounts
ADMIN_GRANTS = [{"role": "trust_admin", "schools": ["*"]}, {"role": "dpo", "schools": ["*"]}]  # what it could do

hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) defaults


@functools.cache
def _dummy_hash(h: PasswordHasher) -> str:
    """Checked when no password is set, so a wrong guess costs the same time either way."""
    return h.hash(secrets.token_urlsafe(16))


def now() -> float:
    """The clock the lockout and idle timeout read (tests replace it)."""
    return time.time()


# -- the password ------------------------------------------------------------------------------------------------

def check_length(password) -> None:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        got = len(password) if isinstance(password, str) else 0
        raise ValueError(f"the password must be at least {MIN_LENGTH} characters long (got {got})")


def set_password(store, password: str) -> None:
    """Hash and store the password of the account "admin" (created with the roles trust_admin and dpo if it is
    not there); ValueError if it is too short."""
    check_length(password)
    if store.account_get(ACCOUNT) is None:
        store.account_put(ACCOUNT, ADMIN_GRANTS)
    store.account_update(ACCOUNT, password_hash=hasher.hash(password))
    clear_failures(store)
    store.admin_sessions_end(account=ACCOUNT)  # a new password logs that account out everywhere, on the server


def password_is_set(store) -> bool:
    """Some account can log in with a password."""
    return any(a.get("password_hash") for a in store.accounts_all())


def check_password(store, password: str, account: str = ACCOUNT) -> bool:
    """The account's password is right. Costs one argon2 check whether or not the account exists or has one."""
    row = store.account_get(account) if isinstance(account, str) else None
    stored = (row or {}).get("password_hash")
    try:
        hasher.verify(stored or _dummy_hash(hasher), password if isinstance(password, str) else "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if not stored:
        return False
    if hasher.check_needs_rehash(stored):
        store.account_update(account, password_hash=hasher.hash(password))
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


def failures_key(store, account: str = ACCOUNT) -> str:
    """The setting that counts `account`'s failed logins: each account has its own count (one account's lockout
    does not lock the others out); names that are no account share one, so guessing names grows nothing."""
    if account == ACCOUNT:
        return FAILURES_SETTING
    if not isinstance(account, str) or store.account_get(account) is None:
        return UNKNOWN_FAILURES
    return "login_failures:" + hashlib.sha256(account.encode()).hexdigest()[:40]


def begin_attempt(store, max_failures: int = MAX_FAILURES, lockout_s: float = LOCKOUT_S,
                  key: str = FAILURES_SETTING) -> int:
    """Count a login attempt (on the count `key`: failures_key()) before its password is checked. 0: check it; else
    the seconds of lockout left (do not check it: it was not counted)."""
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

    return store.update_setting(key, change, {"count": 0, "until": 0})


def lockout_remaining(store, key: str = FAILURES_SETTING) -> int:
    """Seconds until the next login attempt is allowed (0: now)."""
    state = store.get_setting(key) or {}
    until = state.get("until", 0) if isinstance(state, dict) else 0
    return _lockout_left(until if isinstance(until, (int, float)) else 0, now())


def clear_failures(store, key: str = FAILURES_SETTING) -> None:
    store.set_setting(key, {"count": 0, "until": 0})


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
    session["account"] = account
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


def session_account(session, store) -> str | None:
    """The account of a session that session_state() found "in", as the store holds it."""
    sid = session.get("sid")
    return store.admin_session_account(_sid_key(sid)) if isinstance(sid, str) and sid else None


def csrf_token(session) -> str:
    """The session's CSRF token, created on first use; every POST form carries it in a hidden field."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session, sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(str(expected).encode(), str(sent).encode())
