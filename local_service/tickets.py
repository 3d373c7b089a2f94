"""The staff record's one-time links: opened from the extension, signed, short-lived, used once."""
from __future__ import annotations

import secrets
import time

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer


def staff_tickets() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="staff-record")


def issue_staff_ticket(user: str) -> str:
    """A short-lived signed link for the person's own record page (opened from the extension)."""
    return staff_tickets().dumps({"user": user, "nonce": secrets.token_hex(4)})


def read_staff_ticket(ticket: str, max_age: int = 120) -> str | None:
    """The user a ticket was issued for, once: a used or expired ticket gives None."""
    try:
        data = staff_tickets().loads(ticket, max_age=max_age)
        user, nonce = data["user"], data["nonce"]
    except (BadSignature, KeyError, TypeError):
        return None
    used = current_app.extensions.setdefault("postguard_used_tickets", {})
    now = time.monotonic()
    for old in [n for n, t in used.items() if t < now]:
        del used[old]
    if nonce in used:
        return None
    used[nonce] = now + max_age
    return user

