"""The trust server's fleet views: each school at a glance, and each device's health (last contact, version, pack,
proxy, extension, backlog, integrity), behind the dashboard's own login, idle timeout and CSRF check (admin.py).
Devices are named as they enrolled; their events open in the dashboard's event list (?school=, ?origin=).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from rules.record.events import utcnow
from rules.record.store import Filter

from . import admin
from .services import services

bp = Blueprint("fleet", __name__, url_prefix="/admin/fleet")
bp.before_request(admin.require_login)
bp.context_processor(admin.template_helpers)
OVERVIEW_DAYS = 30


@bp.get("/")
def schools():
    store = services().store
    # the overview's 30 days: today and the 29 before, from UTC midnight (the counts come from the daily rollup)
    since = datetime.combine(utcnow().date() - timedelta(days=OVERVIEW_DAYS - 1), time(0), tzinfo=timezone.utc)
    rows = []
    by_school: dict[str, list[dict]] = {}
    for d in store.devices():
        by_school.setdefault(d["school"], []).append(d)
    integrity = store.integrity_counts(since)
    for name in _mine(store.schools(), "aggregates"):
        mine = by_school.get(name, [])
        rows.append({"name": name, "devices": len(mine), "silent": sum(1 for d in mine if _silent(d)),
                     "revoked": sum(1 for d in mine if d["revoked"]), "stats": store.stats(since, Filter(school=name)),
                     "integrity": integrity.get(name, 0)})
    admin.audit("view_schools")
    return render_template("admin/fleet_schools.html", schools=rows, days=OVERVIEW_DAYS)


@bp.get("/devices")
def devices():
    school = (request.args.get("school") or "").strip() or None
    store = services().store
    rows = [d for d in store.devices(school) if g.account.may_see_school("devices", d["school"])]
    for d in rows:
        d["silent"] = _silent(d)
    admin.audit("view_devices", school=school or "")
    return render_template("admin/fleet_devices.html", devices=rows, school=school,
                           silent_days=services().config.server.silent_days)


@bp.post("/devices/<device_id>/revoke")
def revoke(device_id: str):
    store = services().store
    device = store.device(device_id)
    if device is None or not g.account.may_see_school("devices", device["school"]):
        abort(404)
    store.device_revoke(device_id)
    admin.audit("revoke_device", device=device_id, name=device["name"], school=device["school"])
    flash(f"{device['name']} ({device['school']}) is revoked: its uploads are refused from now on, and reported.",
          "info")
    return redirect(url_for("fleet.devices", school=device["school"]))


def _mine(schools: list[str], permission: str) -> list[str]:
    """The schools the signed-in account holds `permission` for (accounts.py)."""
    return [s for s in schools if g.account.may_see_school(permission, s)]


def last_heard(device: dict) -> datetime:
    """When a device was last heard from (its enrolment, if never since), in UTC."""
    seen = device["last_seen"] or device["enrolled"]
    return seen if seen.tzinfo else seen.replace(tzinfo=timezone.utc)


def _silent(device: dict) -> bool:
    return last_heard(device) < utcnow() - timedelta(days=services().config.server.silent_days)
