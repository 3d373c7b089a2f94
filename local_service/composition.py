"""The composition root: the one module that wires the proxy addon and the local service together.

`postguard run` starts both in one process: the service's store, engine and in-process broker are handed to the
addon, which holds posts through the broker (a `rules.record.hold.Holder`) and writes to the same store. `postguard
ca` and `postguard scan-har` use the proxy's certificate and extraction. Nothing else in local_service imports
proxy_addon, and proxy_addon imports nothing from local_service (tests/test_architecture.py).
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import os
import signal
import threading

from werkzeug.serving import make_server

from proxy_addon.addon import PostGuard
from proxy_addon.ca import confdir, ensure_ca, install, instructions, protect
from proxy_addon.har import scan_har
from proxy_addon.runner import EmbeddedProxy
from rules import load_config
from rules.record.hold import PROXY_FRESH_S
from rules.record.keys import TOKEN_FILE, secret_file

from . import trust_ca
from .alerts import Alerter
from .app import create_app
from .commands import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, engine_for
from .forwarder import Forwarder
from .services import Services

log = logging.getLogger("postguard")
PURGE_EVERY_S = 6 * 3600


def cmd_run(args) -> int:
    """The proxy and the local service on loopback, until Ctrl-C or SIGTERM. Every accepted event is committed
    before it is acknowledged, so stopping loses none."""
    config = load_config(args.config)
    _log_to_file(config)
    secret_file(config, TOKEN_FILE)
    ensure_ca(config)
    svc = Services.open(config, database=args.database)
    app = create_app(services=svc)
    server = make_server("127.0.0.1", args.service_port, app, threaded=True)
    # Enrolled with a trust server that issued an intermediate: the proxy signs with it (one CA per trust); else
    # with the laptop's own CA, as before. One that expires while running sends the proxy back to its own CA
    # (the forwarder's keep_ca, which also records why).
    trust_dir = trust_ca.laptop_ca(config.data_dir)
    proxy = EmbeddedProxy(proxy_addon(svc), str(trust_dir or confdir(config)), args.proxy_port)
    proxy_port = proxy.start()
    protect(confdir(config))
    alerter = Alerter(svc.store, f"http://127.0.0.1:{server.server_port}", config=config)
    stopping = threading.Event()
    alerter.start_scheduler(stopping)  # escalations and digests
    purger = threading.Thread(target=_purge_periodically, args=(svc, stopping),
                              name="postguard-retention", daemon=True)
    purger.start()
    threading.Thread(target=svc.engine.warm_up, name="postguard-warm-up", daemon=True).start()
    forwarder = Forwarder(config, svc.store, health=lambda: {"pack": svc.engine.pack.id,
                                                            "proxy": svc.broker.proxy_active(PROXY_FRESH_S),
                                                            "extension": svc.extension_connected()},
                          on_ca=proxy.load_ca, own_ca=confdir(config))
    if trust_dir is not None:
        forwarder.ca_loaded = trust_ca.describe(trust_ca.laptop_intermediate(config.data_dir))["fingerprint"]
    svc.store.listeners.append(lambda _events: forwarder.wake.set())
    threading.Thread(target=forwarder.run, args=(stopping,), name="postguard-forward", daemon=True).start()
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
        forwarder.wake.set()
        proxy.stop()
        server.server_close()
        alerter.flush(5)
        svc.store.close()
        log.info("stopped")
    print("PostGuard stopped", flush=True)
    return EXIT_OK


def proxy_addon(svc: Services) -> PostGuard:
    """The addon as `postguard run` embeds it: the service's store, broker and engine, and its person and device, so
    the proxy's events appear on that person's own page."""
    return PostGuard(store=svc.store, broker=svc.broker, engine=svc.engine, user=svc.user, device=svc.device)


def _purge_periodically(svc: Services, stopping: threading.Event, every_s: float = PURGE_EVERY_S) -> None:
    """Retention is enforced, not just configured: at start and every six hours while running."""
    while not stopping.is_set():
        try:
            n = svc.store.purge(svc.retention())
            if n:
                log.info("retention: purged %d events", n)
        except Exception:
            log.exception("retention purge failed")
        stopping.wait(every_s)


def _log_to_file(config) -> None:
    """The service's log in the data folder. Everything the running service creates (the log and its rotations,
    the database's companions, keys) is its owner's only: umask 077 for the process, and the data folder 0700 and
    the older log files 0600 whatever existed before."""
    os.umask(0o077)
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        config.data_dir.chmod(0o700)
        for old in config.data_dir.glob("postguard.log*"):
            old.chmod(0o600)
    handler = logging.handlers.RotatingFileHandler(config.data_dir / "postguard.log", maxBytes=5 << 20,
                                                   backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def cmd_ca(args) -> int:
    config = load_config(args.config)
    cert = ensure_ca(config)
    if trust_ca.laptop_ca(config.data_dir):
        print(f"This laptop's proxy signs with the trust's intermediate ({trust_ca.laptop_dir(config.data_dir)}), "
              "issued by the trust server: browsers need the trust's root, which MDM installs "
              "('postguard enrol --status' shows the intermediate). Its own CA, below, is used without a server.\n")
    print(instructions(cert, f"http://127.0.0.1:{args.service_port}/proxy.pac"))
    if args.install:
        done = install(cert)
        print("installed in: " + (", ".join(done) if done else "nothing (needs root, or certutil and a browser "
                                                               "profile); follow the steps above"))
    return EXIT_OK


def cmd_scan_har(args) -> int:
    """A HAR capture audited with exactly the proxy's extraction; ValueError and OSError go to the CLI."""
    engine = engine_for(args)
    context = {} if args.on_school_network is None else {"on_school_network": args.on_school_network}
    found = unchecked = False
    for result in scan_har(args.har, engine, context):
        found |= bool(result["findings"])
        unchecked |= result["decision"] == "not_checked"
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return EXIT_FINDINGS if found else EXIT_USAGE if unchecked else EXIT_OK  # as `scan`: 2 when not all was checked


COMMANDS = {"run": cmd_run, "ca": cmd_ca, "scan-har": cmd_scan_har}
