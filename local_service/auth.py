"""The admin's password (argon2), login throttling, the session's idle timeout and the forms' CSRF token.

One admin password per install, set from the command line (`postguard admin set-password`) and kept as an argon2
hash in the store's settings. Failed logins are counted in the store too, so a restart does not reset the lockout.
"""
from __future__ import annotations

import functools
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

def lockout_remaining(store) -> int:
    """Seconds until the next login attempt is allowed (0: now)."""
    until = (store.get_setting(FAILURES_SETTING) or {}).get("until", 0)
    return max(0, int(until - now() + 0.999))


def record_failure(store) -> int:
    """Count a failed login; the fifth in a row locks logins for LOCKOUT_S seconds. Returns the lockout left."""
    state = store.get_setting(FAILURES_SETTING) or {"count": 0, "until": 0}
    count = state.get("count", 0) + 1
    if count >= MAX_FAILURES:
        state = {"count": 0, "until": now() + LOCKOUT_S}
    else:
        state = {"count": count, "until": state.get("until", 0)}
    store.set_setting(FAILURES_SETTING, state)
    return lockout_remaining(store)


def clear_failures(store) -> None:
    store.set_setting(FAILURES_SETTING, {"count": 0, "until": 0})


# -- the session -------------------------------------------------------------------------------------------------

def start_session(session) -> None:
    """A fresh session for a logged-in admin: nothing from before login survives, and a new CSRF token."""
    session.clear()
    session.permanent = True
    session["admin"] = True
    session["admin_seen"] = now()
    session["csrf"] = secrets.token_urlsafe(32)


def end_session(session) -> None:
    session.clear()


def session_state(session, idle_s: int = IDLE_S) -> str:
    """"in", "out" or "idle" (logged in, but unused for longer than idle_s: now logged out). Touches the session."""
    if not session.get("admin"):
        return "out"
    seen = session.get("admin_seen", 0)
    if not isinstance(seen, (int, float)) or now() - seen > idle_s:
        session.clear()
        return "idle"
    session["admin_seen"] = now()
    return "in"


def csrf_token(session) -> str:
    """The session's CSRF token, created on first use; every POST form carries it in a hidden field."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session, sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(str(expected).encode(), str(sent).encode())
