"""`postguard run`, `postguard log ...` and `postguard admin ...`: the service's side of the command line."""
from __future__ import annotations

import getpass
import logging
import logging.handlers
import signal
import sys
import threading

from rules import load_config

from .keys import TOKEN_FILE, secret_file
from .progress import Progress
from .store import Retention, Store, sqlite_url

log = logging.getLogger("postguard")


def database_url(config, override: str | None = None) -> str:
    url = override or config.extra.get("service", {}).get("database") or sqlite_url(
        config.data_dir / "events.sqlite3")
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def open_store(args) -> Store:
    config = load_config(args.config)
    return Store(database_url(config, getattr(args, "database", None)))


def cmd_log_verify(args) -> int:
    store = open_store(args)
    try:
        result = store.verify()
    finally:
        store.close()
    if result.ok and result.audit_ok:
        print(f"ok: {result.checked} events, chain intact")
        return 0
    if not result.ok:
        print(f"BROKEN at event {result.first_break}: {result.reason} ({result.checked} checked)")
    if not result.audit_ok:
        print(f"BROKEN audit log: {result.audit_reason}")
    return 1


def cmd_log_purge(args) -> int:
    from rules import load_pack

    config = load_config(args.config)
    store = Store(database_url(config, args.database))
    try:
        retention = Retention.current(store, load_pack(config.school.pack or "default"), config)
        n = store.purge(retention)
    finally:
        store.close()
    print(f"purged {n} events past their retention period ({retention.default_days} days unless a rule says "
          "otherwise)")
    return 0


def cmd_admin_set_password(args) -> int:
    from .auth import set_password

    if sys.stdin.isatty():
        password = getpass.getpass("New admin password: ")
        if getpass.getpass("Again: ") != password:
            print("postguard: the passwords differ; nothing changed", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    store = open_store(args)
    try:
        set_password(store, password)
    except ValueError as exc:
        print(f"postguard: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print("admin password set")
    return 0


def cmd_run(args) -> int:
    """The proxy and the local service on loopback, until Ctrl-C or SIGTERM. Every accepted event is committed
    before it is acknowledged, so stopping loses none."""
    from werkzeug.serving import make_server

    from proxy_addon.addon import PostGuard
    from proxy_addon.ca import confdir, ensure_ca, protect
    from proxy_addon.runner import EmbeddedProxy

    from .api import get_broker
    from .app import create_app

    config = load_config(args.config)
    _log_to_file(config)
    secret_file(config, TOKEN_FILE)
    ensure_ca(config)
    app = create_app({"POSTGUARD": config, "STORE_URL": database_url(config, args.database)})
    svc = app.extensions["postguard"]
    server = make_server("127.0.0.1", args.service_port, app, threaded=True)
    proxy = EmbeddedProxy(PostGuard(store=svc.store, broker=get_broker(app), engine=svc.engine),
                          str(confdir(config)), args.proxy_port)
    proxy_port = proxy.start()
    protect(confdir(config))
    from .alerts import Alerter
    service = config.extra.get("service", {})
    alerter = Alerter(svc.store, f"http://127.0.0.1:{server.server_port}", service.get("smtp_host", "localhost"),
                      int(service.get("smtp_port", 25)))
    stopping = threading.Event()
    purger = threading.Thread(target=_purge_periodically, args=(svc, stopping),
                              name="postguard-retention", daemon=True)
    purger.start()
    threading.Thread(target=svc.engine.warm_up, name="postguard-warm-up", daemon=True).start()
    app.config["PROXY_ADDRESS"] = f"127.0.0.1:{proxy_port}"
    port = server.server_port
    print(f"PostGuard proxy on 127.0.0.1:{proxy_port}, service on http://127.0.0.1:{port}/ "
          f"(dashboard /admin/, PAC /proxy.pac), data in {config.data_dir}", flush=True)
    log.info("proxy on 127.0.0.1:%d, service on 127.0.0.1:%d", proxy_port, port)

    def stop(signum, _frame):
        if not stopping.is_set():
            stopping.set()
            log.info("stopping on signal %d", signum)
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        stopping.set()
        proxy.stop()
        server.server_close()
        alerter.flush(5)
        svc.store.close()
        log.info("stopped")
    print("PostGuard stopped", flush=True)
    return 0


def _purge_periodically(svc, stopping: threading.Event, every_s: float = 6 * 3600) -> None:
    """Retention is enforced, not just configured: at start and every six hours while running."""
    while not stopping.is_set():
        try:
            n = svc.store.purge(svc.retention())
            if n:
                log.info("retention: purged %d events", n)
        except Exception:
            log.exception("retention purge failed")
        stopping.wait(every_s)


def cmd_status(args) -> int:
    """What this laptop looks like to PostGuard: its addresses against the school's networks, the pack, the log."""
    from rules import Engine
    from rules.network import on_school_network, status_lines

    config = load_config(args.config)
    override = {"on": True, "off": False}.get(args.network)
    for line in status_lines(config):
        print(line)
    if override is not None:
        print(f"school network: {'on' if on_school_network(config, override) else 'off'} (set by --network)")
    engine = Engine(config)
    print(f"policy pack: {engine.pack.name} ({engine.pack.id}), {len(engine.pack.active)} rules on")
    if "pupil.image" in engine.pack.active:
        from rules.images import faces
        from rules.images.library import Library
        stats = Library.for_config(config).stats()
        print(f"photo library: {stats['photos']} photos ({stats['hashes']} hashes); face detector: "
              f"{faces.backend()}")
    print(f"config: {config.path or 'defaults (no config file)'}; data: {config.data_dir}")
    return 0


def cmd_roster_import(args) -> int:
    """Pupils' names as keyed hashes only: the laptop keeps no readable list of pupils."""
    from rules.roster import import_csv

    config = load_config(args.config)
    progress = Progress()
    try:
        result = import_csv(config, args.file, lambda done, total: progress.show(f"read {done}/{total} rows"))
    except OSError as exc:
        progress.clear()
        print(f"postguard: {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        progress.clear()
        print(f"postguard: {exc}", file=sys.stderr)
        return 2
    progress.clear()
    print(result.summary())
    return 0


def cmd_ca(args) -> int:
    from proxy_addon.ca import ensure_ca, install, instructions

    config = load_config(args.config)
    cert = ensure_ca(config)
    print(instructions(cert, f"http://127.0.0.1:{args.service_port}/proxy.pac"))
    if args.install:
        done = install(cert)
        print("installed in: " + (", ".join(done) if done else "nothing (needs root, or certutil and a browser "
                                                               "profile); follow the steps above"))
    return 0


def _log_to_file(config) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.handlers.RotatingFileHandler(config.data_dir / "postguard.log", maxBytes=5 << 20,
                                                   backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def add_parsers(sub, common) -> None:
    p = sub.add_parser("run", parents=[common], help="start the proxy and the local service (and dashboard) on "
                                                     "loopback")
    p.add_argument("--service-port", type=int, default=8765, metavar="N", help="0 picks a free port (printed)")
    p.add_argument("--proxy-port", type=int, default=8766, metavar="N", help="0 picks a free port (printed)")
    p.add_argument("--database", metavar="URL", help="a PostgreSQL URL instead of the embedded SQLite file")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", parents=[common], help="the laptop's addresses against the school's networks, "
                                                        "the pack in use")
    p.add_argument("--network", choices=("auto", "on", "off"), default="auto",
                   help="override whether this laptop counts as on the school network")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("roster", parents=[common], help="the pupil roster, kept as keyed hashes only")
    rsub = p.add_subparsers(metavar="ACTION")
    r = rsub.add_parser("import", parents=[common], help="replace the roster from a MIS export (CSV)")
    r.add_argument("file", metavar="FILE.csv")
    r.set_defaults(func=cmd_roster_import)

    p = sub.add_parser("ca", parents=[common], help="the proxy's certificate: where it is, how to trust it, the "
                                                    "PAC URL")
    p.add_argument("--install", action="store_true", help="install it where this machine allows")
    p.add_argument("--service-port", type=int, default=8765, metavar="N", help="the service port for the PAC URL")
    p.set_defaults(func=cmd_ca)

    p = sub.add_parser("log", parents=[common], help="the monitoring log: verify its chain, purge old events")
    lsub = p.add_subparsers(metavar="ACTION")
    v = lsub.add_parser("verify", parents=[common], help="report the first event changed or deleted")
    v.add_argument("--database", metavar="URL")
    v.set_defaults(func=cmd_log_verify)
    g = lsub.add_parser("purge", parents=[common], help="purge events past their retention period now")
    g.add_argument("--database", metavar="URL")
    g.set_defaults(func=cmd_log_purge)

    p = sub.add_parser("admin", parents=[common], help="the dashboard's admin account")
    asub = p.add_subparsers(metavar="ACTION")
    s = asub.add_parser("set-password", parents=[common], help="set the admin password (prompted, or from stdin)")
    s.add_argument("--database", metavar="URL")
    s.set_defaults(func=cmd_admin_set_password)
