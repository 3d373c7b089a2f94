"""The trust server: the device API (trust.py) and the dashboard (admin.py, the same blueprint a laptop serves), on
the trust's database, served by gunicorn.

    postguard server run --database URL [--host H] [--port N] [--workers N]

Each gunicorn worker builds its own app (and so its own database connections) after the fork. Hosts: loopback and
[server] hosts (the name the trust's reverse proxy forwards); TLS is the reverse proxy's job (docs/trust-server.md).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from datetime import datetime, timedelta

from flask import Flask, abort, redirect, request, url_for

from rules import load_config
from rules.record.events import Event, utcnow
from rules.record.keys import SESSION_KEY_FILE, read_secret

from . import admin, checkpoint, fleet, sso, triage, trust
from .alerts import Alerter
from .app import _host_ok, _origin_ok, _page_headers, _refuse
from .services import Services

log = logging.getLogger("postguard.server")
SILENT_CHECK_EVERY_S = 3600
LEAD_RETRY_S = 60  # how soon another app server takes over the background jobs when the one running them stops


def create_server_app(services: Services, test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                            PERMANENT_SESSION_LIFETIME=timedelta(minutes=30), MAX_CONTENT_LENGTH=32 << 20,
                            EXTRA_HOSTS=list(services.config.server.hosts), EXTENSION_ORIGINS=[], FLEET=True)
    app.config.from_mapping(test_config or {})
    app.config.setdefault("SECRET_KEY", None)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = read_secret(services.config, SESSION_KEY_FILE)
    app.extensions["postguard"] = services
    app.before_request(_gate)
    app.after_request(_page_headers)  # the dashboard's pages: not cached, not framed, no script (as on a laptop)
    app.register_blueprint(trust.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(fleet.bp)
    app.register_blueprint(triage.bp)
    sso.init_app(app, services.config)
    app.add_url_rule("/", "index", lambda: redirect(url_for("admin.overview")))
    return app


def _gate():
    """Host (DNS rebinding) and Origin (cross-site) as on a laptop (app.py's checks, with [server] hosts as the
    extra host names); the device API is signed, the dashboard logged in (admin.py)."""
    if not _host_ok(request.host):
        abort(_refuse(421, "this server does not answer to that host name"))
    origin = request.headers.get("Origin")
    if origin is not None and not _origin_ok(origin):
        abort(_refuse(403, "requests from this origin are not accepted"))


def check_silent(services: Services) -> int:
    """An event for each device silent for [server] silent_days, once per silence."""
    limit = utcnow() - timedelta(days=services.config.server.silent_days)
    n = 0
    for dev in services.store.devices():
        seen = fleet.last_heard(dev)
        if dev["revoked"] or seen >= limit or dev["health"].get("silent_reported") == seen.isoformat():
            continue
        services.store.append(Event(rule="device.silent", decision="recorded", severity="medium", source="server",
                                    device=dev["name"], evidence={"days": services.config.server.silent_days},
                                    message=f"{dev['name']} ({dev['school']}) has not been heard from since "
                                            f"{seen:%Y-%m-%d %H:%M} UTC."))
        services.store.device_health(dev["id"], {**dev["health"], "silent_reported": seen.isoformat()})
        n += 1
    return n


def daily_checkpoint(services: Services, now: datetime | None = None) -> str | None:
    """Once a day: a signed checkpoint of every device's head, kept, and mailed to [server] checkpoint_to."""
    now = now or utcnow()
    last = services.store.get_setting(checkpoint.LAST_AT)
    if last and datetime.fromisoformat(last) > now - timedelta(days=1):
        return None
    text = checkpoint.make(services.config, services.store, services.config.server.name, now)
    checkpoint.keep(services.store, text, now)
    if services.config.server.checkpoint_to:
        checkpoint.send(services.store, services.config, text, services.config.server.checkpoint_to)
    return text


def run(args) -> int:
    """postguard server run: gunicorn in this process, `serving on http://H:P` once it accepts connections."""
    from gunicorn.app.base import BaseApplication  # only the server needs gunicorn

    config_path, database = args.config, args.database

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("accesslog", None)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 24+: no control socket in $HOME
                self.cfg.set("control_socket_disable", True)
            self.cfg.set("when_ready", _ready)
            self.cfg.set("on_exit", _on_exit)

        def load(self):
            config = load_config(config_path)
            return create_server_app(Services.open(config, database=database, token="-", user="server"))

    def _ready(server):
        host, port = server.LISTENERS[0].sock.getsockname()[:2]
        print(f"serving on http://{host}:{port}", flush=True)
        # the jobs in a process of their own, started fresh ("spawn"): a thread in this arbiter would be running
        # (holding the import, logging or store locks) whenever it forks a worker, and the worker would inherit
        # them held and hang on its first request (one did, in CI)
        jobs = multiprocessing.get_context("spawn").Process(target=run_jobs, args=(config_path, database, os.getpid()),
                                                            name="postguard-jobs", daemon=True)
        jobs.start()
        # this arbiter ends it (on_exit); the workers it forks must not think it theirs, or each would try to join
        # it at its exit ("can only join a child process")
        multiprocessing.process._children.discard(jobs)
        server.postguard_jobs = jobs

    def _on_exit(server):
        jobs = getattr(server, "postguard_jobs", None)
        if jobs is not None and jobs.is_alive():
            jobs.terminate()
            jobs.join(5)

    sys.argv = sys.argv[:1]  # gunicorn reads its own command line too: it is configured above instead
    Server().run()
    return 0


def run_jobs(config_path, database: str | None, parent: int) -> None:
    """The background jobs (silent devices, the daily checkpoint, alert escalations and digests), in their own
    process beside gunicorn's arbiter. They run on one app server of those sharing the database: the one whose jobs
    process holds the store's lead(); the others ask again every minute and take over when it stops. The process
    ends when the server that started it has gone (even when it was killed)."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    config = load_config(config_path)
    svc = Services.open(config, database=database, token="-", user="server")
    stop = threading.Event()

    def orphaned() -> bool:
        return os.getppid() != parent

    def watch():
        while not orphaned():
            stop.wait(2)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    while not svc.store.lead():
        if stop.wait(LEAD_RETRY_S):
            return
    log.info("this server runs the background jobs (silent devices, checkpoints, alerts)")
    alerter = Alerter(Services.open(config, database=database, token="-", user="server").store,
                      f"https://{config.server.hosts[0]}" if config.server.hosts else "", config=config)
    threading.Thread(target=alerter.run_scheduler, args=(stop,), daemon=True).start()
    while not stop.is_set():
        for job in (check_silent, daily_checkpoint) if svc.store.lead() else ():  # still ours
            try:
                job(svc)
            except Exception:
                log.exception("%s failed", job.__name__)
        stop.wait(SILENT_CHECK_EVERY_S)
