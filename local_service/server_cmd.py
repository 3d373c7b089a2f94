"""The trust server's commands and the laptop's enrolment and forwarding commands.

    postguard server init --database URL
    postguard server school add NAME --database URL [--json]   |   postguard server school rotate NAME --database URL
    postguard server run --database URL [--host H] [--port N] [--workers N]
    postguard server events --database URL [--school NAME] [--device ID] [--format jsonl]
    postguard server verify --database URL
    postguard server device list|revoke ...
    postguard server ca show --database URL   |   postguard server ca import --cert F --key F --database URL
    postguard enrol URL --secret SECRET [--name DEVICE]   |   postguard enrol --status
    postguard forward --once
"""
from __future__ import annotations

import json
import secrets
from datetime import timezone
from pathlib import Path
import socket
import sys

from rules import load_config
from rules.record.store import Filter, Store, database_url, open_store

from . import checkpoint, forwarder, trust_ca
from .commands import EXIT_OK, UsageError

EXIT_NOT_INTACT = 1


def _store(args) -> Store:
    if not args.database:
        raise UsageError("--database URL is required (the trust server's database)")
    config = load_config(args.config)
    return open_store(config, args.database)


def cmd_init(args) -> int:
    store = _store(args)
    store.close()
    config = load_config(args.config)
    print(f"the trust server's schema is ready in {_safe(database_url(config, args.database))}")
    _ensure_root(config, sys.stdout)
    return EXIT_OK


def _ensure_root(config, out) -> None:
    """The trust's root CA, made when the server has none (a new server, or one upgraded from before one CA per
    trust), and said on `out`."""
    if trust_ca.ensure_root(config.data_dir, config.server.name):
        print(f"made the trust's root CA (its key: {trust_ca.root_paths(config.data_dir)[0]}, owner only); "
              "'postguard server ca show' prints the certificate for MDM", file=out, flush=True)


def cmd_ca_show(args) -> int:
    """The trust's root certificate (PEM) on stdout: what MDM trusts ([deploy] ca_cert)."""
    config = load_config(args.config)
    _store(args).close()
    root = trust_ca.load_root(config.data_dir)
    if root is None:
        raise UsageError("this server has no trust CA yet: 'postguard server init' makes one, "
                         "'postguard server ca import' takes the trust's own")
    sys.stdout.write(root[1].decode())
    print(f"SHA-256 fingerprint {trust_ca.fingerprint(root[1])}", file=sys.stderr)
    return EXIT_OK


def cmd_ca_import(args) -> int:
    """The trust's own root CA (certificate and unencrypted key) as the server's root."""
    config = load_config(args.config)
    _store(args).close()
    try:
        cert, key = Path(args.cert).read_bytes(), Path(args.key).read_bytes()
    except OSError as e:
        raise UsageError(f"{e.filename}: {e.strerror}") from None
    if trust_ca.load_root(config.data_dir) is not None and not args.replace:
        raise UsageError("this server holds a root already: --replace replaces it (every laptop then needs the new "
                         "root trusted by MDM, and takes an intermediate from it at its next renewal)")
    try:
        trust_ca.import_root(config.data_dir, cert, key)
    except ValueError as e:
        raise UsageError(f"refused: {e}") from None
    print(f"imported the trust's root (SHA-256 {trust_ca.fingerprint(cert)}); its key is in "
          f"{trust_ca.root_paths(config.data_dir)[0]}, owner only")
    return EXIT_OK


def cmd_school_add(args) -> int:
    return _new_secret(args, lambda store, secret: store.school_add(args.name, secret),
                       f"the school {args.name!r} exists already (rotate its secret with 'server school rotate')")


def cmd_school_rotate(args) -> int:
    return _new_secret(args, lambda store, secret: store.school_rotate(args.name, secret), f"no school named "
                                                                                          f"{args.name!r}")


def new_enrolment_secret() -> str:
    """32 random bytes, URL-safe, never starting with '-': such a secret on a command line
    (`postguard enrol URL --secret -Qx...`) reads as an option, and the enrolment fails (one in 64 did)."""
    while (secret := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return secret


def _new_secret(args, change, refusal: str) -> int:
    """A new enrolment secret for the school, set by `change(store, secret)` (False: `refusal`), and printed."""
    store = _store(args)
    try:
        secret = new_enrolment_secret()
        if not change(store, secret):
            raise UsageError(refusal)
    finally:
        store.close()
    _print_secret(args, secret)
    return EXIT_OK


def _print_secret(args, secret: str) -> None:
    if args.json:
        print(json.dumps({"school": args.name, "secret": secret}))
    else:
        print(f"{args.name}: enrolment secret {secret}\n(give it to the school's IT; laptops enrol with "
              "'postguard enrol URL --secret SECRET')")


def cmd_run(args) -> int:
    from . import server  # Flask and gunicorn: only this command needs them (postguard scan loads neither)
    _store(args).close()  # the schema is ready before any worker starts
    # and so is the root, as init makes it: a server upgraded from before one CA per trust issues intermediates
    # without being initialised again. Said on stderr: stdout's first line is "serving on ..." (scripts read it).
    _ensure_root(load_config(args.config), sys.stderr)
    return server.run(args)


def cmd_events(args) -> int:
    store = _store(args)
    try:
        names = {d["id"]: d["name"] for d in store.devices()}
        for row in store.iter_all(Filter(school=args.school or None, origin=args.device or None)):
            if row.get("origin_seq") is None:
                continue  # the server's own events (integrity, silent devices): not forwarded by a device
            out = {k: v for k, v in row.items() if not k.startswith("_") and k not in _SERVER_COLUMNS}
            out.update(device=row["origin"], device_name=names.get(row["origin"], ""), seq=row["origin_seq"],
                       school=row["school"], laptop_device=row["device"],
                       verified=row["verified"], sent_at=_iso(row["sent_at"]), received_at=_iso(row["received_at"]))
            print(json.dumps(out, ensure_ascii=False, default=str))
    finally:
        store.close()
    return EXIT_OK


_SERVER_COLUMNS = {"seq", "digest", "prev_hash", "hash", "seal", "origin", "origin_seq", "origin_prev", "origin_hash",
                   "origin_seal", "sent_at", "received_at"}


def _iso(t) -> str | None:
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).isoformat().replace("+00:00", "Z")


def cmd_verify(args) -> int:
    store = _store(args)
    try:
        checks = store.verify_devices()
    finally:
        store.close()
    if not checks:
        print("no devices enrolled")
    for c in checks:
        state = "ok" if not c.problem else f"NOT INTACT: {c.problem}"
        print(f"{c.school} / {c.name} ({c.id}): {c.held} events, {state}")
    return EXIT_NOT_INTACT if any(c.problem for c in checks) else EXIT_OK


def cmd_checkpoint(args) -> int:
    config = load_config(args.config)
    store = _store(args)
    try:
        if args.check:
            try:
                text = Path(args.check).read_text()
            except OSError as e:
                raise UsageError(f"{args.check}: {e.strerror}") from None
            result = checkpoint.check(text, checkpoint.public_key(config), store)
            if not result.signed:
                print(f"{args.check}: NOT signed by this server's checkpoint key")
                return EXIT_NOT_INTACT
            for problem in result.problems:
                print(f"NOT INTACT: {problem}")
            if not result.problems:
                print(f"{args.check}: signed by this server; every device's record still holds what it names")
            return EXIT_NOT_INTACT if result.problems else EXIT_OK
        text = checkpoint.make(config, store, config.server.name)
        checkpoint.keep(store, text)
        if args.mail or config.server.checkpoint_to:
            checkpoint.send(store, config, text, args.mail or config.server.checkpoint_to)
    finally:
        store.close()
    sys.stdout.write(text)
    return EXIT_OK


def cmd_device_list(args) -> int:
    store = _store(args)
    try:
        for d in store.devices(args.school or None):
            print(json.dumps({**d, "enrolled": _iso(d["enrolled"]), "last_seen": _iso(d["last_seen"])}))
    finally:
        store.close()
    return EXIT_OK


def cmd_device_revoke(args) -> int:
    store = _store(args)
    try:
        if not store.device_revoke(args.device):
            raise UsageError(f"no device {args.device!r}")
    finally:
        store.close()
    print(f"revoked {args.device}: its uploads are refused from now on, and reported")
    return EXIT_OK


# -- the laptop --------------------------------------------------------------------------------------------------

def cmd_enrol(args) -> int:
    config = load_config(args.config)
    store = open_store(config)
    try:
        e = forwarder.enrolment(store)
        if args.status:
            if e is None:
                print("not enrolled")
                return EXIT_NOT_INTACT
            print(f"enrolled with {e.server} as {e.name} ({e.device}), school {e.school}; "
                  f"{forwarder.Forwarder(config, store).backlog()} events waiting to be forwarded")
            print(_ca_status(config))
            return EXIT_OK
        if e is not None and not args.again:
            raise UsageError(f"this laptop is enrolled already ({e.server}); 'postguard enrol --status' shows it, "
                             "--again enrols it anew as a new device")
        if not args.url or not args.secret:
            raise UsageError("postguard enrol URL --secret SECRET [--name DEVICE]")
        try:
            e = forwarder.enrol(config, store, args.url, args.secret, args.name or socket.gethostname())
        except (forwarder.ForwardError, forwarder.Unreachable) as exc:
            print(f"postguard: enrolment failed: {exc}", file=sys.stderr)
            return EXIT_NOT_INTACT
    finally:
        store.close()
    print(f"enrolled with {e.server} as {e.name} ({e.device}), school {e.school}")
    print(_ca_status(config))
    return EXIT_OK


def _ca_status(config) -> str:
    cert = trust_ca.laptop_intermediate(config.data_dir)
    if cert is None:
        return "proxy certificate: this laptop's own CA (the server issued no intermediate)"
    info = trust_ca.describe(cert)
    state = "in use" if trust_ca.laptop_ca(config.data_dir) else "EXPIRED: the proxy uses this laptop's own CA"
    renew = " (renewal due)" if trust_ca.needs_renewal(cert) else ""
    return (f"proxy certificate: the trust's intermediate, {state}, expires {info['expires']:%Y-%m-%d %H:%M} UTC"
            f"{renew}, {info['scope']} hosts in scope, serial {info['serial']}, issued by {info['issuer']}")


def cmd_forward(args) -> int:
    config = load_config(args.config)
    store = open_store(config)
    try:
        f = forwarder.Forwarder(config, store)
        f.keep_ca()  # a laptop forwarding from a timer renews its proxy's certificate here
        try:
            done = f.forward_all(within_s=args.within)
        except forwarder.ForwardError as exc:
            print(f"postguard: {exc}", file=sys.stderr)
            return EXIT_NOT_INTACT
        waiting = f.backlog()
    finally:
        store.close()
    print(f"forwarded: the server holds everything ({waiting} waiting)" if done and not waiting else
          f"not all forwarded: {waiting} events waiting")
    return EXIT_OK if done and not waiting else EXIT_NOT_INTACT


def _safe(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


def add_parsers(sub, common) -> None:
    db = {"metavar": "URL", "help": "the trust server's database (postgresql://... or sqlite:///...)"}
    p = sub.add_parser("server", parents=[common], help="the trust-wide server every laptop forwards its record to")
    ssub = p.add_subparsers(metavar="ACTION")
    s = ssub.add_parser("init", parents=[common], help="create or migrate the server's schema")
    s.add_argument("--database", **db)
    s.set_defaults(func=cmd_init)

    s = ssub.add_parser("school", parents=[common], help="schools and their enrolment secrets")
    schsub = s.add_subparsers(metavar="ACTION")
    a = schsub.add_parser("add", parents=[common], help="add a school and print its enrolment secret")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--database", **db)
    a.add_argument("--json", action="store_true", help='print {"school": NAME, "secret": "..."}')
    a.set_defaults(func=cmd_school_add)
    r = schsub.add_parser("rotate", parents=[common], help="a new enrolment secret; the old one is refused")
    r.add_argument("name", metavar="NAME")
    r.add_argument("--database", **db)
    r.add_argument("--json", action="store_true", help='print {"school": NAME, "secret": "..."}')
    r.set_defaults(func=cmd_school_rotate)

    s = ssub.add_parser("run", parents=[common], help="serve the device API and the dashboard (gunicorn)")
    s.add_argument("--database", **db)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8766, help="port (0: any free port; default 8766)")
    s.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    s.set_defaults(func=cmd_run)

    s = ssub.add_parser("events", parents=[common], help="the events as stored centrally, one JSON object a line")
    s.add_argument("--database", **db)
    s.add_argument("--school", metavar="NAME")
    s.add_argument("--device", metavar="ID")
    s.add_argument("--format", choices=("jsonl",), default="jsonl")
    s.set_defaults(func=cmd_events)

    s = ssub.add_parser("verify", parents=[common], help="each device's record: the events held, ok or the first "
                                                        "break, gap or replay (exit 1 when any is not intact)")
    s.add_argument("--database", **db)
    s.set_defaults(func=cmd_verify)

    s = ssub.add_parser("checkpoint", parents=[common], help="print (and mail) a signed checkpoint of every "
                                                            "device's chain head, or --check an older one")
    s.add_argument("--database", **db)
    s.add_argument("--mail", metavar="ADDRESS", help="also e-mail it (default: [server] checkpoint_to, if set)")
    s.add_argument("--check", metavar="FILE", help="check that FILE, an earlier checkpoint, is signed by this server "
                                                  "and that the record still holds what it names")
    s.set_defaults(func=cmd_checkpoint)

    s = ssub.add_parser("device", parents=[common], help="enrolled devices")
    dsub = s.add_subparsers(metavar="ACTION")
    d = dsub.add_parser("list", parents=[common], help="the devices, their health and last contact (JSON lines)")
    d.add_argument("--database", **db)
    d.add_argument("--school", metavar="NAME")
    d.set_defaults(func=cmd_device_list)
    d = dsub.add_parser("revoke", parents=[common], help="refuse a device's uploads from now on, and report them")
    d.add_argument("device", metavar="ID")
    d.add_argument("--database", **db)
    d.set_defaults(func=cmd_device_revoke)

    s = ssub.add_parser("ca", parents=[common], help="the trust's root CA: laptops' proxies sign with intermediates "
                                                    "it issues")
    csub = s.add_subparsers(metavar="ACTION")
    c = csub.add_parser("show", parents=[common], help="print the root certificate (PEM) for MDM to trust")
    c.add_argument("--database", **db)
    c.set_defaults(func=cmd_ca_show)
    c = csub.add_parser("import", parents=[common], help="use the trust's own root CA (certificate and key)")
    c.add_argument("--cert", required=True, metavar="FILE", help="the root certificate (PEM)")
    c.add_argument("--key", required=True, metavar="FILE", help="its private key (PEM, unencrypted)")
    c.add_argument("--replace", action="store_true", help="replace the root this server holds")
    c.add_argument("--database", **db)
    c.set_defaults(func=cmd_ca_import)

    p = sub.add_parser("enrol", parents=[common], help="enrol this laptop with the trust server")
    p.add_argument("url", nargs="?", metavar="URL")
    p.add_argument("--secret", help="the school's enrolment secret (written --secret=SECRET when it begins "
                                   "with '-', as an older server's could)")
    p.add_argument("--name", help="this device's name on the server (default: the host name)")
    p.add_argument("--status", action="store_true", help="show the enrolment and the backlog")
    p.add_argument("--again", action="store_true", help="enrol anew although enrolled (a new device id)")
    p.set_defaults(func=cmd_enrol)

    p = sub.add_parser("forward", parents=[common], help="send the record to the trust server")
    p.add_argument("--once", action="store_true", required=True,
                   help="send everything pending and exit (0 when the server acknowledged all of it)")
    p.add_argument("--within", type=float, default=120.0, metavar="S",
                   help="retry for up to S seconds while the server cannot be reached (default 120)")
    p.set_defaults(func=cmd_forward)
