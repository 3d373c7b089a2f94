"""`postguard status`, `roster`, `log ...`, `admin ...` and `account ...`, and the parsers of `run` and `ca` (which the
composition root carries out): the service's side of the command line."""
from __future__ import annotations

import getpass
import logging
import os
import sys
from pathlib import Path

from rules import Engine, load_config, load_pack
from rules.network import on_school_network, status_lines
from rules.record.seal import VerifyKeyError, read_verify_key
from rules.record.store import Retention, Store, open_store as open_config_store, verify_key_path
from rules.roster import import_csv

from . import accounts
from .auth import set_password
from .install_state import Inspector, exit_status
from .progress import Progress

log = logging.getLogger("postguard")
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2  # every `postguard` command's exit status


class UsageError(Exception):
    """A command used wrongly: the message is printed and the exit status is 2."""


def engine_for(args) -> Engine:
    """The engine for a command's --config and --pack."""
    config = load_config(args.config)
    pack = load_pack(args.pack) if getattr(args, "pack", None) else None
    return Engine(config, pack)


def with_proxy(name: str):
    """The command `name` of the composition root (run, ca, scan-har), imported when it runs: it loads the proxy
    adapter, mitmproxy and Flask (about 0.5 s), which no other command needs."""
    def call(args) -> int:
        from . import composition  # the composition root: see with_proxy's docstring for why it is imported here
        return composition.COMMANDS[name](args)
    return call


def open_store(args) -> Store:
    return open_config_store(load_config(args.config), getattr(args, "database", None))


def cmd_log_verify(args) -> int:
    config = load_config(args.config)
    key_file = Path(args.verify_key) if args.verify_key else verify_key_path(config)
    notes = []
    try:
        keys = read_verify_key(key_file)
    except VerifyKeyError as e:
        keys = {}
        notes.append(f"seals not checked: {e}")
    store = open_config_store(config, args.database)
    try:
        retention = Retention.current(store, load_pack(config.school.pack or "default"), config)
        result = store.verify(keys, anchors=Path(args.anchors) if args.anchors else None, retention=retention)
        owner_note = _same_owner(key_file, store) if keys else ""
    finally:
        store.close()
    notes += [n for n in result.notes if not (keys and n.startswith("seals not checked"))]
    notes += [owner_note] if owner_note else []
    if result.ok and result.audit_ok:
        proof = f"sealed rows checked against {key_file}" if result.sealed else "hash chain only"
        print(f"ok: {result.checked} events, chain intact ({proof})")
    if not result.ok:
        print(f"BROKEN at event {result.first_break}: {result.reason} ({result.checked} checked)")
    if not result.audit_ok:
        print(f"BROKEN audit log: {result.audit_reason}")
    for note in notes:
        print(f"  note: {note}")
    return 0 if result.ok and result.audit_ok else 1


def _same_owner(key_file: Path, store: Store) -> str:
    """A warning when the verification key belongs to the account that writes the record: against that account it
    proves nothing, since it can re-seal every row."""
    db = store.url.split("///", 1)[1] if store.sqlite and "///" in store.url else ""
    try:
        if db and os.name == "posix" and key_file.stat().st_uid == Path(db).stat().st_uid:
            return (f"{key_file} belongs to the account that writes the record: it proves the record against "
                    "everyone else, not against that account. Keep it where that account cannot read it "
                    "([service] verify_key), or enrol the laptop with the trust server.")
    except OSError:
        pass
    return ""


def cmd_log_purge(args) -> int:
    config = load_config(args.config)
    store = open_config_store(config, args.database)
    try:
        retention = Retention.current(store, load_pack(config.school.pack or "default"), config)
        n = store.purge(retention)
    finally:
        store.close()
    print(f"purged {n} events past their retention period ({retention.default_days} days unless a rule says "
          "otherwise)")
    return 0


def _read_password(prompt: str) -> str | None:
    """Prompted twice on a terminal, else the first line of stdin; None when the two differ."""
    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != password:
            print("postguard: the passwords differ; nothing changed", file=sys.stderr)
            return None
        return password
    return sys.stdin.readline().rstrip("\n")


def cmd_admin_set_password(args) -> int:
    """The account "admin" (trust_admin and dpo): the dashboard login of installs from before named accounts."""
    password = _read_password("New admin password: ")
    if password is None:
        return 2
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


def cmd_account(args) -> int:
    """postguard account add|list|remove|set-password|totp: the reviewers' named accounts (accounts.py)."""
    if args.action == "set-password":
        password = _read_password(f"New password for {args.email}: ")
        if password is None:
            return 2
    store = open_store(args)
    try:
        if args.action == "add":
            row = accounts.add(store, args.email, args.role, args.school)
            print(accounts.describe(row))
            if not row.get("password_hash"):
                print("  signs in through single sign-on; for a password: postguard account set-password "
                      f"{row['email']}")
        elif args.action == "list":
            rows = store.accounts_all()
            for row in rows:
                print(accounts.describe(row))
            if not rows:
                print("no accounts (postguard account add EMAIL --role ROLE)")
        elif args.action == "remove":
            if not accounts.remove(store, args.email):
                print(f"postguard: no account {args.email!r}", file=sys.stderr)
                return 2
            print(f"removed {args.email} (its sessions have ended)")
        elif args.action == "set-password":
            accounts.set_password(store, args.email, password)
            print(f"password set for {args.email}; its sessions have ended")
        elif args.action == "totp":
            uri = accounts.enrol_totp(store, args.email)
            print("Scan or paste this into the authenticator app (it holds the secret: do not keep it anywhere "
                  "else):")
            print(uri)
    except ValueError as exc:
        print(f"postguard: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def cmd_status(args) -> int:
    """What this laptop looks like to PostGuard: its addresses against the school's networks, the pack, the log."""
    config = load_config(args.config)
    override = {"on": True, "off": False}.get(args.network)
    for line in status_lines(config):
        print(line)
    if override is not None:
        print(f"school network: {'on' if on_school_network(config, override) else 'off'} (set by --network)")
    engine = Engine(config)
    print(f"policy pack: {engine.pack.name} ({engine.pack.id}), {len(engine.pack.active)} rules on")
    for line in engine.status():
        print(line)
    print(f"config: {config.path or 'defaults (no config file)'}; data: {config.data_dir}")
    print("this laptop's setup (postguard deploy):")
    checks = Inspector(config).all()
    for check in checks:
        print(f"  {check.line()}")
    return exit_status(checks)  # 0 in order, 1 some NO, 3 some "cannot tell" (install_state.py)


def cmd_roster_import(args) -> int:
    """Pupils' names as keyed hashes only: the laptop keeps no readable list of pupils."""
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


def add_parsers(sub, common) -> None:
    p = sub.add_parser("run", parents=[common], help="start the proxy and the local service (and dashboard) on "
                                                     "loopback")
    p.add_argument("--service-port", type=int, default=8765, metavar="N", help="0 picks a free port (printed)")
    p.add_argument("--proxy-port", type=int, default=8766, metavar="N", help="0 picks a free port (printed)")
    p.add_argument("--database", metavar="URL", help="a PostgreSQL URL instead of the embedded SQLite file")
    p.set_defaults(func=with_proxy("run"))

    p = sub.add_parser("status", parents=[common], help="the laptop's addresses against the school's networks, "
                                                        "the pack in use, and whether its setup is in order (exit "
                                                        "status: 0 in order; 1 a line says NO; 3 none says NO but "
                                                        "one says 'cannot tell'; 2 usage or config error)")
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
    p.set_defaults(func=with_proxy("ca"))

    p = sub.add_parser("log", parents=[common], help="the monitoring log: verify its chain, purge old events")
    lsub = p.add_subparsers(metavar="ACTION")
    v = lsub.add_parser("verify", parents=[common], help="report the first event changed or deleted")
    v.add_argument("--database", metavar="URL")
    v.add_argument("--verify-key", metavar="FILE", help="the verification key (default: [service] verify_key)")
    v.add_argument("--anchors", metavar="FILE", help="the anchor file (default: [service] anchors)")
    v.set_defaults(func=cmd_log_verify)
    g = lsub.add_parser("purge", parents=[common], help="purge events past their retention period now")
    g.add_argument("--database", metavar="URL")
    g.set_defaults(func=cmd_log_purge)

    p = sub.add_parser("admin", parents=[common], help="the dashboard's admin account")
    asub = p.add_subparsers(metavar="ACTION")
    s = asub.add_parser("set-password", parents=[common], help="set the admin password (prompted, or from stdin)")
    s.add_argument("--database", metavar="URL")
    s.set_defaults(func=cmd_admin_set_password)

    p = sub.add_parser("account", parents=[common], help="the reviewers' named accounts: roles, schools, "
                                                         "passwords, TOTP")
    asub = p.add_subparsers(metavar="ACTION", dest="action", required=True)
    a = asub.add_parser("add", parents=[common], help="add an account, or a role to one")
    a.add_argument("email", metavar="EMAIL")
    a.add_argument("--role", required=True, choices=list(accounts.ROLES),
                   help="trust_admin: configuration, no event content; school_it: devices and their health; dsl, "
                        "headteacher: their schools' events; dpo: every event and the audit log, read-only; "
                        "reporting: aggregates, no names")
    a.add_argument("--school", action="append", metavar="NAME",
                   help="the role for this school only (repeat for more); default: every school")
    for name, text in (("list", "list the accounts and their roles"),
                       ("remove", "remove an account and end its sessions"),
                       ("set-password", "set an account's password (prompted, or from stdin)"),
                       ("totp", "enrol a TOTP second factor: prints the otpauth:// URI for the app")):
        a = asub.add_parser(name, parents=[common], help=text)
        if name != "list":
            a.add_argument("email", metavar="EMAIL")
    for a in asub.choices.values():
        a.add_argument("--database", metavar="URL")
    p.set_defaults(func=cmd_account)
