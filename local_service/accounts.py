"""Reviewers' named accounts: roles, what each may see, for which schools, and the accounts' passwords and TOTP.

Roles (issue 16, after Smoothwall Monitor's contacts): trust_admin configures and sees no event content; school_it
sees devices and their health and the overview's counts, no personal data; dsl and headteacher see and triage the
events of their schools; dpo sees every event and the audit log, read-only; reporting sees aggregates only. Each grant
is a role for all schools ("*") or chosen ones. Accounts live in the store (Store.account_*): `postguard account add
EMAIL --role ROLE [--school NAME ...]`; an account with a password (argon2) may add a TOTP second factor; an account
without one signs in only through single sign-on (sso.py). The account "admin" is the dashboard login of installs
from before: `postguard admin set-password` sets it, with the roles trust_admin and dpo.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pyotp

from rules.sso_config import REVIEWER_ROLES

from . import auth

ADMIN = auth.ACCOUNT  # "admin": the account of installs from before named accounts
ALL = "*"

# What each role may do. aggregates: counts with no names (the overview, the schools page); events: a person's
# events, lists and exports; triage: change an event's status, assignee and notes; settings: read the settings;
# configure: change them (and purge); verify: check the record's chain; devices: the devices and their health,
# revoke one; audit: the audit log.
ROLES: dict[str, frozenset[str]] = {
    "trust_admin": frozenset({"aggregates", "settings", "configure", "verify", "devices"}),
    "school_it": frozenset({"aggregates", "settings", "verify", "devices"}),
    "dsl": frozenset({"aggregates", "events", "triage"}),
    "headteacher": frozenset({"aggregates", "events", "triage"}),
    "dpo": frozenset({"aggregates", "events", "audit"}),
    "reporting": frozenset({"aggregates"}),
}
if tuple(ROLES) != REVIEWER_ROLES:  # the config's [[sso.groups]] role names these
    raise ImportError("accounts.ROLES and rules.sso_config.REVIEWER_ROLES name different roles")
ADMIN_GRANTS = auth.ADMIN_GRANTS
EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,}$")
TOTP_ISSUER = "PostGuard"


@dataclass(frozen=True)
class Account:
    """A signed-in reviewer: the name the audit log records and the grants the views check."""

    email: str
    grants: tuple[tuple[str, tuple[str, ...]], ...]  # (role, schools); schools ("*",) is every school

    @classmethod
    def of(cls, row: dict) -> "Account":
        grants = []
        for g in row.get("grants") or []:
            if isinstance(g, dict) and g.get("role") in ROLES:
                schools = tuple(s for s in g.get("schools") or [] if isinstance(s, str))  # none: no school
                grants.append((g["role"], schools))
        return cls(row["email"], tuple(grants))

    @property
    def roles(self) -> list[str]:
        return sorted({role for role, _ in self.grants})

    def can(self, permission: str) -> bool:
        return any(permission in ROLES[role] for role, _ in self.grants)

    def schools(self, permission: str) -> tuple[str, ...] | None:
        """The schools this account holds `permission` for: None is every school; () is none."""
        out: set[str] = set()
        for role, schools in self.grants:
            if permission in ROLES[role]:
                if ALL in schools:
                    return None
                out.update(schools)
        return tuple(sorted(out))

    def may_see_school(self, permission: str, school: str | None) -> bool:
        scope = self.schools(permission)
        return scope is None or (school is not None and school in scope)


# -- managing accounts (the CLI) ---------------------------------------------------------------------------------

def normalise(email: str) -> str:
    email = (email or "").strip().lower()
    if email != ADMIN and not EMAIL.match(email):
        raise ValueError(f"not an e-mail address: {email!r}")
    return email


def grant(role: str, schools: list[str] | None) -> dict:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    schools = [s.strip() for s in schools or [] if s.strip()]
    return {"role": role, "schools": schools or [ALL]}


def add(store, email: str, role: str, schools: list[str] | None = None) -> dict:
    """Create the account with this grant, or add the grant to an existing one (a role granted again replaces its
    schools). Returns the account."""
    email, new = normalise(email), grant(role, schools)
    current = store.account_get(email)
    grants = [g for g in (current or {}).get("grants", []) if g.get("role") != role] + [new]
    store.account_put(email, grants)
    return store.account_get(email)


def remove(store, email: str) -> bool:
    return store.account_remove(normalise(email))


def set_password(store, email: str, password: str) -> None:
    """The account's password (argon2); ends the account's sessions. ValueError if too short or no such account."""
    email = normalise(email)
    auth.check_length(password)
    if not store.account_update(email, password_hash=auth.hasher.hash(password)):
        raise ValueError(f"no account {email!r} (add it with 'postguard account add')")
    store.admin_sessions_end(account=email)


def enrol_totp(store, email: str) -> str:
    """A new TOTP secret for the account (replacing any before); returns the otpauth:// URI an authenticator app
    reads. From now on the account's password logins need a code."""
    email = normalise(email)
    account = store.account_get(email)
    if account is None:
        raise ValueError(f"no account {email!r} (add it with 'postguard account add')")
    if not account.get("password_hash"):
        raise ValueError(f"{email} has no password: it signs in through single sign-on, whose provider asks for "
                         "its second factor")
    secret = pyotp.random_base32()
    store.account_update(email, totp_secret=secret, totp_last=None)
    store.admin_sessions_end(account=email)
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def check_totp(store, account: dict, code: str) -> bool:
    """The code is the account's current one (or the one before or after: clocks drift) and its time step was not
    used before. The step is taken atomically in the store, so a code is good once, even for parallel requests."""
    secret = account.get("totp_secret")
    code = (code or "").strip().replace(" ", "")
    if not secret or not re.fullmatch(r"\d{6}", code):
        return False
    totp = pyotp.TOTP(secret)
    t = int(auth.now())
    for drift in (0, -1, 1):
        at = t + drift * totp.interval
        if pyotp.utils.strings_equal(totp.at(at), code):
            return store.account_totp_step(account["email"], totp.timecode(at))
    return False


def describe(row: dict) -> str:
    """One line of `postguard account list`."""
    account = Account.of(row)
    grants = ", ".join(f"{role} ({'all schools' if ALL in schools else ', '.join(schools)})"
                       for role, schools in account.grants) or "no roles"
    how = ("password" + (" + TOTP" if row.get("totp_secret") else "")) if row.get("password_hash") else \
        "single sign-on only"
    return f"{row['email']}: {grants}; {how}"


# -- what each dashboard view needs --------------------------------------------------------------------------------
#
# endpoint -> (permission to read it, permission to POST to it). The gate (admin.py) refuses a view with 403 unless
# the account holds it; a view missing here needs every permission of the old "admin" account (trust_admin and dpo),
# so a new page is closed to every other role until it is placed in this table.
VIEWS: dict[str, tuple[str | None, str | None]] = {
    "admin.logout": (None, None),
    "admin.overview": ("aggregates", None),
    "admin.events": ("events", None),
    "admin.person": ("events", None),
    "admin.event": ("events", None),
    "admin.export_csv": ("events", None),
    "admin.export_jsonl": ("events", None),
    "admin.settings": ("settings", "configure"),
    "admin.verify": (None, "verify"),
    "admin.purge": (None, "configure"),
    "admin.audit_log": ("audit", None),
    "fleet.schools": ("aggregates", None),
    "fleet.devices": ("devices", None),
    "fleet.revoke": (None, "devices"),
    "triage.queue": ("events", None),
    "triage.post": ("events", "triage"),
}
DEFAULT_NEEDS = ROLES["trust_admin"] | ROLES["dpo"]


def needs(endpoint: str | None, method: str) -> frozenset[str]:
    """The permissions `endpoint` needs for `method`."""
    if endpoint not in VIEWS:
        return DEFAULT_NEEDS
    read, write = VIEWS[endpoint]
    need = write if method == "POST" else read
    return frozenset({need} if need else ())
