"""The Flask app factory: the extension's API and the IT admin's dashboard, on loopback only.

Every request passes the same gate: the Host header must be a loopback name (DNS rebinding), a browser's Origin must
be this service or a configured extension, `/api/` needs the per-install token, and `/admin/` a logged-in admin.
"""
from __future__ import annotations

import getpass
import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, abort, jsonify, make_response, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from rules import Engine, load_config
from rules.config import Config

from .broker import Broker
from .keys import SESSION_KEY_FILE, TOKEN_FILE, read_secret
from .store import Retention, Store, sqlite_url

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass
class Services:
    """What the views share; created once per app."""

    config: Config
    store: Store
    engine: Engine
    token: str
    user: str
    device: str
    broker: Broker

    def retention(self) -> Retention:
        return Retention.current(self.store, self.engine.pack, self.config)


def create_app(config=None) -> Flask:
    """`config`: None (the user's config file), a rules Config, or a mapping of Flask settings (tests)."""
    app = Flask(__name__, instance_relative_config=False)
    settings = dict(config) if isinstance(config, dict) else {}
    pg_config = config if isinstance(config, Config) else settings.pop("POSTGUARD", None)
    if pg_config is None:
        pg_config = load_config(settings.pop("CONFIG_FILE", None))
    store_url = settings.pop("STORE_URL", None) or pg_config.extra.get("service", {}).get("database") or \
        sqlite_url(pg_config.data_dir / "events.sqlite3")
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
    app.config.update(settings)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = read_secret(pg_config, SESSION_KEY_FILE)
    token = app.config.get("TOKEN") or read_secret(pg_config, TOKEN_FILE)
    service = pg_config.extra.get("service", {})
    app.config["EXTENSION_ORIGINS"] = list(app.config["EXTENSION_ORIGINS"]) + list(
        service.get("extension_origins", []))
    store = app.config.get("STORE") or Store(store_url)
    app.extensions["postguard"] = Services(
        config=pg_config, store=store, engine=Engine(pg_config), token=token,
        user=app.config.get("LOCAL_USER") or getpass.getuser(), device=socket.gethostname(), broker=Broker())

    app.before_request(_gate)
    app.after_request(_page_headers)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)

    from . import admin, api, pac, staff
    app.register_blueprint(pac.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(staff.bp)
    return app


def services() -> Services:
    from flask import current_app
    return current_app.extensions["postguard"]


def _host_ok(host: str) -> bool:
    from flask import current_app

    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name in LOOPBACK_NAMES or name in current_app.config["EXTRA_HOSTS"]:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _origin_ok(origin: str) -> bool:
    from flask import current_app

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
        if not sent or not hmac.compare_digest(sent, services().token):
            abort(_refuse(401, "a valid PostGuard token is required"))


def _page_headers(response):
    """One set of headers for every page the service renders (dashboard, staff record): not cached, not framed,
    no script, and the staff ticket in a URL never sent to another site."""
    if request.blueprint in ("admin", "staff"):
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


def staff_tickets() -> URLSafeTimedSerializer:
    from flask import current_app
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="staff-record")


def issue_staff_ticket(user: str) -> str:
    """A short-lived signed link for the person's own record page (opened from the extension)."""
    return staff_tickets().dumps({"user": user, "nonce": secrets.token_hex(4)})


def read_staff_ticket(ticket: str, max_age: int = 120) -> str | None:
    """The user a ticket was issued for, once: a used or expired ticket gives None."""
    import time

    from flask import current_app
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

