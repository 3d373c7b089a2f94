"""The Flask app factory: the extension's API and the IT admin's dashboard, on loopback only.

Every request passes the same gate: the Host header must be a loopback name (DNS rebinding), a browser's Origin must
be this service or a configured extension, `/api/` needs the per-install token, and `/admin/` a logged-in admin.
"""
from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Mapping
from datetime import timedelta

from flask import Flask, abort, current_app, jsonify, make_response, request

from rules.record.keys import SESSION_KEY_FILE, read_secret

from . import admin, api, contact, home, pac, photos, sso, staff, triage
from .services import Services

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def create_app(test_config: Mapping | None = None, services: Services | None = None) -> Flask:
    """The app factory, as in Flask's tutorial: the defaults, then `test_config` over them (tests). `services` are
    what the views share (config, store, engine, broker): opened from the user's config file when not given."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(
        SECRET_KEY=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=30),
        EXTENSION_ORIGINS=[],
        EXTRA_HOSTS=[],
        MAX_CONTENT_LENGTH=64 << 20,
        STREAM_SECONDS=60,  # an SSE stream's lifetime before the client reconnects
        STREAM_HEARTBEAT_SECONDS=15,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    svc = services if services is not None else Services.open()
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = read_secret(svc.config, SESSION_KEY_FILE)
    app.config["EXTENSION_ORIGINS"] = list(app.config["EXTENSION_ORIGINS"]) + list(svc.config.service.extension_origins)
    if svc.config.deploy.extension_id:  # the extension the school's policies force-install (postguard deploy)
        app.config["EXTENSION_ORIGINS"].append(f"chrome-extension://{svc.config.deploy.extension_id}")
    app.extensions["postguard"] = svc

    app.before_request(_gate)
    app.after_request(_page_headers)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)

    app.register_blueprint(pac.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(contact.bp)
    app.register_blueprint(photos.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(triage.bp)
    sso.init_app(app, svc.config)
    app.register_blueprint(staff.bp)
    app.register_blueprint(home.bp)
    return app


def _host_ok(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name in LOOPBACK_NAMES or name in current_app.config["EXTRA_HOSTS"]:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _origin_ok(origin: str) -> bool:
    if origin in current_app.config["EXTENSION_ORIGINS"]:
        return True
    return origin == f"{request.scheme}://{request.host}"


def _gate():
    """Host (DNS rebinding), Origin (cross-site), token (API). The admin blueprint checks its own login."""
    if not _host_ok(request.host):
        abort(_refuse(421, "this service answers only on its loopback address"))
    origin = request.headers.get("Origin")
    if origin is not None and not _origin_ok(origin):
        abort(_refuse(403, "requests from this origin are not accepted"))
    if request.path.startswith("/api/"):
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not sent or not hmac.compare_digest(sent, current_app.extensions["postguard"].token):
            abort(_refuse(401, "a valid PostGuard token is required"))
        if origin is not None and origin in current_app.config["EXTENSION_ORIGINS"]:
            current_app.extensions["postguard"].extension_seen = time.monotonic()  # device health (forwarder)


def _page_headers(response):
    """One set of headers for every page the service renders (dashboard, staff record): not cached, not framed,
    no script, and the staff ticket in a URL never sent to another site."""
    if request.blueprint in ("admin", "staff", "home", "triage", "sso", "fleet"):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                                       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes browsers send "Origin: null"
    return response


def _not_found(exc):
    """Routing errors never reach a blueprint's handlers: answer the API's clients in JSON too."""
    if request.path.startswith("/api/"):
        return jsonify({"error": exc.description}), exc.code
    return exc


def _refuse(status: int, message: str):
    if request.path.startswith("/api/"):
        return make_response(jsonify({"error": message}), status)
    return make_response(message + "\n", status, {"Content-Type": "text/plain; charset=utf-8"})
