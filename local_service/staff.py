"""A member of staff's own record: what PostGuard has logged about them, in plain words.

Opened from the extension through a two-minute signed link (/me/<ticket>) that starts a staff session for that
person only; /me then lists their own events, and says what is recorded, for how long and who can see it (the
transparency the UK ICO's guidance on monitoring workers expects).
"""
from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request, session, url_for

from . import explain, staff_notice
from .services import services
from .tickets import read_staff_ticket
from rules.record.store import Filter

bp = Blueprint("staff", __name__)

PAGE_SIZE = 50



def _denied(reason: str):
    return make_response(render_template("staff/denied.html", reason=reason), 403)


@bp.get("/me/<ticket>")
def open_ticket(ticket: str):
    user = read_staff_ticket(ticket)
    if not user:
        return _denied("This link has expired or is not valid. Links to your record last two minutes.")
    session.permanent = True
    session["staff_user"] = user
    # Not a 302: the extension opens this link from its own origin, and a browser does not send a SameSite=Strict
    # cookie on a redirect that a cross-site navigation started. A same-origin refresh is a new, same-site request.
    return render_template("staff/opening.html")


@bp.get("/me")
def me():
    user = session.get("staff_user")
    if not user:
        return _denied("")
    cursor = request.args.get("cursor") or None
    try:
        page = services().store.list(Filter(user=user), limit=PAGE_SIZE, cursor=cursor)
    except ValueError:
        return redirect(url_for("staff.me"))
    notice = staff_notice.for_services(services())  # from the running config, never fixed
    return render_template("staff/me.html", user=user, page=page, paged=bool(cursor), notice=notice,
                           pack=services().engine.pack, rule_meaning=explain.rule_meaning,
                           decision_meaning=explain.decision_meaning)
