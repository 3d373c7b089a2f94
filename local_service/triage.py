"""Triage: each post's events get a status (new, seen, action taken, no action needed), an assignee, notes and a
history; "my queue" is the posts assigned to the signed-in reviewer; the queue filters by status.

A post is what one request carried: its findings are stored together as events with the same person, device,
school, destination and path (Store.post_events), and triaged together (the post is named by its first event's id).
Behind the dashboard's gate (admin.py): reading needs the "events" permission (dsl, headteacher, dpo), changing needs
"triage" (dsl, headteacher; the DPO's access is read-only), each for its schools. Every view and change is audited.
A post's triage is deleted once retention has purged all of its events.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from rules.record.store import PURGE_RULE

from . import accounts, admin
from .services import services

bp = Blueprint("triage", __name__, url_prefix="/admin/triage")
bp.before_request(admin.require_login)
bp.context_processor(admin.template_helpers)

STATUSES = {"new": "New", "seen": "Seen", "action_taken": "Action taken", "no_action": "No action needed"}


@bp.record_once
def _forget_with_the_record(state) -> None:
    """A post's triage (its notes are about a person) goes when retention has purged all of its events: once when
    the app starts (purges by `postguard log purge` ran without it), then after every purge the service makes."""
    store = state.app.extensions["postguard"].store
    store.triage_forget_purged()
    store.listeners.append(lambda stored: store.triage_forget_purged()
                           if any(e.rule == PURGE_RULE for e in stored) else None)
MAX_NOTE = 2000
PAGE_SIZE = 50


def _post_or_404(event_id: str) -> list[dict]:
    rows = services().store.post_events(event_id)
    if not rows or not admin.may_see(rows[0]):
        abort(404)
    return rows


def _assignees(school: str | None) -> list[str]:
    """Who a post can be given to: the accounts that may triage it (for its school, on the trust server)."""
    out = []
    fleet = bool(admin.current_app.config.get("FLEET"))
    for row in services().store.accounts_all():
        account = accounts.Account.of(row)
        if account.can("triage") and (not fleet or account.may_see_school("triage", school)):
            out.append(account.email)
    return out


def group_posts(rows: list[dict]) -> list[dict]:
    """A page of events (newest first) as posts: events of one post (triaged together, or stored together within
    seconds with the same person, device, destination and path) are one line with their rules."""
    posts: list[dict] = []
    for row in rows:
        key = row.get("triage_post") or None
        last = posts[-1] if posts else None
        same = last is not None and (
            (key and key == last["key"]) or
            (not key and not last["key"] and all(row.get(c) == last["first"].get(c)
                                                  for c in ("user", "device", "host", "path", "school"))
             and abs((last["first"]["_time"] - row["_time"]).total_seconds()) <= 5))
        if same:
            last["events"].append(row)
            last["rules"].append(row["rule"])
        else:
            posts.append({"key": key, "first": row, "events": [row], "rules": [row["rule"]],
                          "status": row.get("triage_status", "new"), "assignee": row.get("triage_assignee")})
    return posts


@bp.get("/")
def queue():
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        return admin._bad_request(f"The filter could not be used: status must be one of {', '.join(STATUSES)}.")
    mine = request.args.get("mine") == "1"
    flt, params = admin._filter_or_400()
    try:
        page = services().store.triage_list(flt, status=status, assignee=g.account.email if mine else None,
                                            limit=PAGE_SIZE, cursor=request.args.get("cursor") or None)
    except ValueError:
        return admin._bad_request("That page link is broken. Start again from the newest events.")
    admin.audit("view_triage", status=status or "", mine=mine, filters=params, rows=len(page.rows),
                users=sorted({r["user"] for r in page.rows if r.get("user")}))
    link = {k: v for k, v in {"status": status, "mine": "1" if mine else None}.items() if v}
    return render_template("admin/triage.html", posts=group_posts(page.rows), page=page, status=status, mine=mine,
                           statuses=STATUSES, link=link)


@bp.route("/posts/<event_id>", methods=["GET", "POST"])
def post(event_id: str):
    rows = _post_or_404(event_id)
    store = services().store
    key = rows[0]["id"]
    state = store.triage_of([key]).get(key) or {"status": "new", "assignee": None}
    assignees = _assignees(rows[0].get("school"))
    if request.method == "POST":
        status = request.form.get("status", "")
        assignee = (request.form.get("assignee") or "").strip().lower() or None
        note = (request.form.get("note") or "").strip()
        errors = []
        if status not in STATUSES:
            errors.append(f"the status must be one of: {', '.join(STATUSES.values())}")
        if assignee is not None and assignee not in assignees:
            errors.append("the assignee must be an account that may triage this post")
        if len(note) > MAX_NOTE:
            errors.append(f"a note is at most {MAX_NOTE} characters (this one has {len(note)})")
        if errors:
            return admin._bad_request("The change was not saved: " + "; ".join(errors) + ".")
        if status == state["status"] and assignee == state["assignee"] and not note:
            flash("Nothing changed.", "info")
        else:
            store.triage_set(key, [r["id"] for r in rows], status, assignee, g.account.email, note)
            admin.audit("triage", post=key, user=rows[0].get("user") or "", status=status, assignee=assignee or "",
                        note=bool(note))
            flash(f"Saved: {STATUSES[status]}" + (f", assigned to {assignee}" if assignee else "") + ".", "ok")
        return redirect(url_for("triage.post", event_id=key))
    admin.audit("view_post", post=key, user=rows[0].get("user") or "", events=len(rows))
    return render_template("admin/triage_post.html", rows=rows, key=key, state=state, history=store.triage_history(key),
                           statuses=STATUSES, assignees=assignees, may_triage=admin.can("triage"))
