"""The IT admin's dashboard: overview charts, the event list and exports, settings, and the audit log.

Every page but the login needs a logged-in admin; every POST carries the session's CSRF token; every view and export
is itself written to the audit log. Nothing here edits or deletes an event or an audit entry.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import (Blueprint, Response, abort, current_app, flash, g, make_response, redirect, render_template,
                   request, session, stream_with_context, url_for)

from . import accounts, alerts, auth, charts, choices, export
from .services import services
from . import search, words
from rules.record.events import DECISIONS, SEVERITIES, utcnow
from .forms import TEXT_FILTERS, parse_filter, parse_settings
from rules.record.store import Filter, ScopedFilter

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 50
OVERVIEW_DAYS = 30
EXPORTS = {"admin.export_csv", "admin.export_jsonl"}
ACTOR = "admin"  # the account of installs from before named accounts (accounts.ADMIN)
NOBODY = "(not signed in)"  # the audit log's actor for what happens before a login


def _actor() -> str:
    account = g.get("account")
    return account.email if account is not None else NOBODY


def _audit(action: str, **detail) -> None:
    services().store.audit(_actor(), action, detail)


def _bad_request(message: str, status: int = 400):
    return make_response(render_template("admin/error.html", title="That request could not be used",
                                         message=message), status)


# -- the gate: login, idle timeout, CSRF, the account's roles ----------------------------------------------------

@bp.before_request
def _require_login():
    if request.endpoint == "admin.login":
        return _check_csrf()
    store = services().store
    state = auth.session_state(session, store, _idle_s())
    row = store.account_get(auth.session_account(session, store) or "") if state == "in" else None
    if row is None:
        if state == "in":  # the account was removed: its sessions went with it, but not a request under way
            auth.end_session(session, store)
        if request.endpoint in EXPORTS:
            return Response("log in at /admin/login first\n", 401, {"Content-Type": "text/plain; charset=utf-8"})
        if state == "idle":
            flash("You were logged out after 30 minutes without activity. Please log in again.", "info")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("admin.login", next=target))
    g.account = accounts.Account.of(row)
    refused = _check_csrf()
    if refused is None and not _allowed(g.account):
        _audit("refused", view=request.endpoint or request.path, method=request.method)
        return _forbidden()
    return refused


def _allowed(account: accounts.Account) -> bool:
    """The account holds what this view needs: on a laptop, for this laptop's school; on the trust server for some
    school (the views then show only the account's schools)."""
    needs = accounts.needs(request.endpoint, request.method)
    if current_app.config.get("FLEET"):
        return all(account.can(p) for p in needs)
    school = services().config.school.name
    return all(account.may_see_school(p, school) for p in needs)


def _forbidden():
    return make_response(render_template("admin/error.html", title="Your account cannot open this page",
                                         message="Your role does not include this page. Ask the trust's "
                                                 "administrator if you need it."), 403)


def can(permission: str) -> bool:
    """The signed-in account holds `permission` (for some school)."""
    account = g.get("account")
    return account is not None and account.can(permission)


def scoped(flt: Filter, permission: str = "events") -> Filter:
    """`flt` limited to the schools the account holds `permission` for (on the trust server, where events carry
    their school; a laptop's one school was checked at the gate)."""
    schools = g.account.schools(permission) if g.get("account") is not None else ()
    if schools is None or not current_app.config.get("FLEET"):
        return flt
    return ScopedFilter(**vars(flt), schools=schools)


def may_see(row: dict, permission: str = "events") -> bool:
    """The account may see this event (its school is one of the account's, on the trust server)."""
    if not current_app.config.get("FLEET"):
        return True
    return g.get("account") is not None and g.account.may_see_school(permission, row.get("school"))


def _idle_s() -> float:
    return current_app.config.get("ADMIN_IDLE_S", auth.IDLE_S)


def _check_csrf():
    if request.method == "POST" and not auth.csrf_ok(session, request.form.get("csrf_token")):
        return _bad_request("This form has expired or did not come from this dashboard. Go back, reload the page "
                            "and try again.", 400)
    return None



@bp.context_processor
def _template_helpers():
    return {"csrf_token": lambda: auth.csrf_token(session), "account": g.get("account"), "can": can}


# The trust server's fleet views (fleet.py) sit behind the same gate and write to the same audit log.
require_login, template_helpers, audit = _require_login, _template_helpers, _audit


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("admin.overview")


safe_next = _safe_next  # sso.py returns to the page that asked for a sign-in too


# -- login -------------------------------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    store = services().store
    nxt = request.values.get("next", "")
    if request.method == "GET":
        if auth.session_state(session, store, _idle_s()) == "in":
            return redirect(_safe_next(nxt))
        auth.csrf_token(session)
        return _login_page(password_set=auth.password_is_set(store), next=nxt)
    # The attempt is counted (atomically, in the store, on the account's own count) before the slow password check,
    # and refused uncounted and unchecked while that account's logins are locked: parallel guesses get no more
    # checks than the limit, for every account.
    name = (request.form.get("account") or "").strip().lower()[:254] or accounts.ADMIN
    key = auth.failures_key(store, name)
    wait = auth.begin_attempt(store, current_app.config.get("ADMIN_MAX_FAILURES", auth.MAX_FAILURES),
                              current_app.config.get("ADMIN_LOCKOUT_S", auth.LOCKOUT_S), key)
    if wait:
        _audit("login_refused", account=name, reason="locked out", seconds=wait)
        return _login_failed(f"Too many wrong passwords. Wait {wait} seconds, then try again.", 429, nxt)
    row = store.account_get(name) if auth.check_password(store, request.form.get("password", ""), name) else None
    if row is not None and (not row.get("totp_secret")
                            or accounts.check_totp(store, row, request.form.get("code", ""))):
        auth.clear_failures(store, key)
        auth.start_session(session, store, name)
        g.account = accounts.Account.of(row)
        _audit("login", method="password" + (" + TOTP" if row.get("totp_secret") else ""))
        return redirect(_safe_next(nxt))
    wait = auth.lockout_remaining(store, key)
    _audit("login_failed", account=name, reason="code" if row is not None else "password")
    message = "That password is not right, or the account or its code."
    if wait:
        message += f" Too many wrong passwords: wait {wait} seconds before trying again."
    return _login_failed(message, 401, nxt)


def _login_page(status: int = 200, **values):
    providers = current_app.extensions.get("postguard_sso", {})
    return make_response(render_template("admin/login.html", sso=[(name, p.label) for name, p in providers.items()],
                                         **values), status)


def _login_failed(message: str, status: int, nxt: str):
    # The same page whether or not a password has been set: a failure says nothing about that.
    return _login_page(status, password_set=None, error=message, next=nxt)


@bp.post("/logout")
def logout():
    _audit("logout")
    auth.end_session(session, services().store)
    flash("You have logged out.", "info")
    return redirect(url_for("admin.login"))


# -- overview ----------------------------------------------------------------------------------------------------

@bp.get("/")
def overview():
    store = services().store
    today = utcnow().date()
    days = [today - timedelta(days=OVERVIEW_DAYS - 1 - i) for i in range(OVERVIEW_DAYS)]
    since = datetime.combine(days[0], time(0), tzinfo=timezone.utc)
    stats = store.stats(since, scoped(Filter(), "aggregates"))
    colours = charts.rule_colours(stats["per_day"])
    rule_totals: dict[str, int] = {}
    for _, rule, n in stats["per_day"]:
        rule_totals[rule] = rule_totals.get(rule, 0) + n
    decisions = dict(stats["decisions"])
    total = sum(decisions.values())
    # the tiles count posts (a post with two findings is one), read from the events when there are not too many
    posts = charts.post_counts(store.iter_all(scoped(Filter(since=since), "aggregates")), 2 * charts.POSTS_CAP) \
        if 0 < total <= charts.POSTS_CAP else None
    recent_high = store.list(scoped(Filter(since=since, severity="high")), limit=8).rows if can("events") else []
    _audit("view_overview", since=days[0].isoformat(), events=total)
    charts_html = {}
    if total:
        span = f"{days[0].day} {days[0]:%b} to {days[-1].day} {days[-1]:%b}"
        charts_html = {
            "per_day": charts.stacked_days(stats["per_day"], days, colours, "chart-days",
                                           f"Findings per day by rule, {span}", label=words.rule_name),
            "decisions": charts.hbars(stats["decisions"], "chart-decisions", "What happened, by finding",
                                      charts.decision_colour, label=words.decision_words),
            "hosts": charts.hbars(stats["hosts"], "chart-hosts", "Top destinations", charts.PALETTE[0])
            if stats["hosts"] else None,
        }
    return render_template("admin/overview.html", days=days, stats=stats, total=total, decisions=decisions,
                           colours=colours, rule_totals=rule_totals, charts=charts_html, recent_high=recent_high,
                           swatch=charts.swatch, decision_colour=charts.decision_colour,
                           alert_failures=alerts.failing(store), posts=posts)


# -- the event list, a person's history, an event ----------------------------------------------------------------

def _filter_or_400(forced: dict | None = None):
    args = request.args.to_dict() | (forced or {})
    try:
        flt, params = parse_filter(args)
        return scoped(flt), params
    except ValueError as exc:
        abort(_bad_request(f"The filter could not be used: {exc}."))


def _page(flt: Filter):
    cursor = request.args.get("cursor") or None
    try:
        return services().store.list(flt, limit=PAGE_SIZE, cursor=cursor)
    except ValueError:
        abort(_bad_request("That page link is broken. Start again from the newest events."))


def _options(params: dict) -> dict[str, list[str]]:
    """Drop-down values; a value in use is always offered, even if the list is capped."""
    values = choices.for_app(current_app._get_current_object(), services().store)
    opts = {name: values.get(name) for name in choices.COLUMNS}
    opts["severity"] = list(SEVERITIES)
    opts["decision"] = list(DECISIONS)
    if current_app.config.get("FLEET") and g.get("account") and g.account.schools("events") is not None:
        opts["user"], opts["device"] = [], []  # the drop-downs read every school's events: no names from others
    for name in TEXT_FILTERS:
        if params.get(name) and params[name] not in opts.get(name, []):
            opts[name] = [params[name], *opts.get(name, [])]
    return opts


@bp.get("/events")
def events():
    flt, params = _filter_or_400()
    page, found = _page_or_search(flt, params)
    _audit("view_events", filters=params, page=bool(request.args.get("cursor")), rows=len(page.rows))
    return render_template("admin/events.html", page=page, params=params, link_params=params,
                           options=_options(params), person=None, page_size=PAGE_SIZE,
                           paged=bool(request.args.get("cursor")), found=found)


def _page_or_search(flt: Filter, params: dict):
    """The page of events, or what the search box found (search.py): an exact person, laptop, destination or rule
    is a filter, paged as ever; other words are looked for in the newest events."""
    q = (request.args.get("q") or "").strip()[:search.MAX_QUERY]
    if not q:
        return _page(flt), None
    params["q"] = q
    exact = search.exact_filter(flt, q, _options(params))
    if exact is not None:
        return _page(exact[0]), search.Found([], exact[1], 0, False)
    found = search.scan(services().store, flt, q)
    return search.page(found.rows), found


@bp.get("/people/<path:user>")
def person(user: str):
    flt, params = _filter_or_400({"user": user})
    page, found = _page_or_search(flt, params)
    _audit("view_person", user=user, filters=params, page=bool(request.args.get("cursor")), rows=len(page.rows))
    link_params = {k: v for k, v in params.items() if k != "user"}  # the path names the person
    return render_template("admin/events.html", page=page, params=params, link_params=link_params,
                           options=_options(params), person=user, page_size=PAGE_SIZE,
                           paged=bool(request.args.get("cursor")), found=found)


@bp.get("/events/<event_id>")
def event(event_id: str):
    row = services().store.get(event_id)
    if row is None or not may_see(row):
        abort(_bad_request("There is no event with that id.", 404))
    _audit("view_event", id=event_id, user=row.get("user") or "")
    return render_template("admin/event.html", e=row, evidence_sentence=words.evidence_sentence(row["rule"],
                                                                                              row["evidence"]),
                           evidence=words.fields(row["evidence"]))


# -- exports -----------------------------------------------------------------------------------------------------

def _export(kind: str, lines, mimetype: str):
    flt, params = _filter_or_400()
    store = services().store
    rows = store.count(flt)  # exports read every matching row anyway; the count is cheaper than that
    _audit(f"export_{kind}", filters=params, rows=rows)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    response = Response(stream_with_context(lines(store.iter_all(flt))), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="postguard-events-{stamp}.{kind}"'
    return response


@bp.get("/export.csv")
def export_csv():
    return _export("csv", export.csv_lines, "text/csv")


@bp.get("/export.jsonl")
def export_jsonl():
    return _export("jsonl", export.jsonl_lines, "application/x-ndjson")


# -- settings ----------------------------------------------------------------------------------------------------

def _current_settings() -> dict:
    store = services().store
    return {"retention_days": services().retention().default_days,
            "alert_email": store.get_setting("alert_email", "") or "",
            "alert_webhook": store.get_setting("alert_webhook", "") or ""}


def _render_settings(values: dict, errors: dict | None = None, status: int = 200):
    pack = services().engine.pack
    return make_response(render_template("admin/settings.html", values=values, errors=errors or {}, pack=pack,
                                         retention=services().retention(),
                                         mail_failing=alerts.failure_state(services().store),
                                         webhook_failing=alerts.Failures(services().store, "webhook").state(),
                                         syslog_failing=alerts.Failures(services().store, "syslog").state(),
                                         alerting=services().config.alerts, mail=services().config.service),
                         status)


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    current = _current_settings()
    if request.method == "GET":
        _audit("view_settings")
        return _render_settings(current)
    if request.form.get("action") == "send_test":
        return _send_test_alert()
    parsed, errors = parse_settings(request.form)
    if parsed is None:
        submitted = {k: request.form.get(k, "") for k in current}
        return _render_settings(submitted, errors, 400)
    store = services().store
    new = {"retention_days": parsed.retention_days, "alert_email": parsed.alert_email,
           "alert_webhook": parsed.alert_webhook}
    changed = {k: {"from": current[k], "to": v} for k, v in new.items() if current[k] != v}
    for key in changed:
        store.set_setting(key, new[key])
    _audit("change_settings", changed=changed)
    flash("Settings saved." if changed else "Nothing changed.", "ok")
    return redirect(url_for("admin.settings"))


def _send_test_alert():
    """A test alert to one channel (the form's `channel`: mail, webhook or syslog), sent now and tried once: whether
    it was accepted, or its error. (A POST to the settings page with action=send_test: the settings page is the one
    place that changes or tries them.)"""
    channel = request.form.get("channel") or "mail"
    if channel in ("webhook", "syslog"):
        return _send_test_channel(channel)
    to = services().store.get_setting("alert_email", "") or ""
    if not to:
        _audit("test_alert", to="", ok=False, error="no alert email address")
        flash("Save an alert email address first, then send a test.", "error")
        return redirect(url_for("admin.settings"))
    mailer = alerts.Mailer(services().store, services().config.service)
    try:
        alerts.send_test(mailer, to)
    except Exception as exc:
        error = alerts.describe(exc)
        _audit("test_alert", to=to, ok=False, error=error)
        flash(f"The test alert to {to} was not sent: {error}", "error")
    else:
        _audit("test_alert", to=to, ok=True)
        flash(f"The test alert to {to} was accepted by the mail server {mailer.host}:{mailer.port}.", "ok")
    return redirect(url_for("admin.settings"))


def _send_test_channel(channel: str):
    store, config = services().store, services().config
    target = store.get_setting("alert_webhook", "") if channel == "webhook" else config.alerts.syslog
    if not target:
        _audit("test_alert", channel=channel, ok=False, error="not set up")
        flash(f"Set up the {alerts.CHANNELS[channel].lower()} first, then send a test.", "error")
        return redirect(url_for("admin.settings"))
    try:
        if channel == "webhook":
            alerts.send_test_webhook(store, config, target)
        else:
            alerts.send_test_syslog(store, config)
    except Exception as exc:
        error = alerts.describe(exc)
        _audit("test_alert", channel=channel, to=target, ok=False, error=error)
        flash(f"The test to {target} was not sent: {error}", "error")
    else:
        _audit("test_alert", channel=channel, to=target, ok=True)
        flash(f"The test to {target} was {'accepted' if channel == 'webhook' else 'sent'}.", "ok")
    return redirect(url_for("admin.settings"))


@bp.post("/settings/verify")
def verify():
    result = services().store.verify()
    _audit("verify_log", ok=result.ok, checked=result.checked, reason=result.reason, audit_ok=result.audit_ok,
           audit_reason=result.audit_reason)
    if result.ok and result.audit_ok:
        flash(f"The log is intact: {result.checked} events checked, and the audit log verifies.", "ok")
    else:
        flash("The log does not verify: " + "; ".join(r for r in (result.reason, result.audit_reason) if r), "error")
    return redirect(url_for("admin.settings"))


@bp.post("/settings/purge")
def purge():
    retention = services().retention()
    n = services().store.purge(retention)
    _audit("purge", events=n, default_days=retention.default_days, per_rule_days=retention.per_rule)
    flash(f"Removed the details of {n} event{'s' if n != 1 else ''} older than their retention period." if n else
          "Nothing was past its retention period.", "ok")
    return redirect(url_for("admin.settings"))


# -- the audit log -----------------------------------------------------------------------------------------------

AUDIT_SHOWN = 200


@bp.get("/audit")
def audit_log():
    _audit("view_audit")
    entries = services().store.audit_entries(limit=AUDIT_SHOWN)
    for entry in entries:
        entry["summary"] = words.audit_sentence(entry["action"], entry["detail"])
        entry["fields"] = words.fields(entry["detail"])
    return render_template("admin/audit.html", entries=entries, shown=AUDIT_SHOWN)


# -- template filters shared with the staff page -----------------------------------------------------------------

def school_zone() -> ZoneInfo:
    """The school's time zone ([school] time_zone): every time on the dashboard and the staff page is shown in it."""
    return ZoneInfo(services().config.school.time_zone)


@bp.app_template_filter("when")
def when(value) -> str:
    """An event time as people read it, in the school's time zone: 3 Nov 2026, 09:05 GMT."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(school_zone())
        return f"{value.day} {value:%b %Y, %H:%M} {value.tzname()}"
    return str(value)


# Globals, not a context processor: the macros in _macros.html are imported without the page's context.
bp.add_app_template_global(words.rule_name, "rule_name")
bp.add_app_template_global(words.decision_words, "decision_words")


@bp.app_template_global("time_zone")
def time_zone() -> str:
    return services().config.school.time_zone
