"""The monitoring log: the only module that writes SQL. SQLite (WAL) by default, PostgreSQL by URL.

Tamper evidence: every event row carries `digest` = SHA-256 of its canonical content, `hash` = SHA-256 of the
previous row's hash and its own digest, and `seal`, an HMAC of its sequence number, hash and header under a key that
moves forward after every row (rules/record/seal.py), so a later holder of the laptop cannot re-seal earlier rows.
Sequence numbers are contiguous (1, 2, 3, ...), given here, not by the database. `verify()` recomputes all of it and
reports the first break; the chain head is kept in its own row and anchored outside the database. Retention purges
an event's content (every personal field) but keeps its header (id, time, rule, source), digest, hash and seal, and
logs the purge as an event in the same transaction; verify checks that each purged row was past the retention the
purge stated. The schema is migrated with Alembic (rules/record/migrations/).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time as _time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from . import seal as sealing
from .events import Event, utcnow

log = logging.getLogger("postguard.store")
SCHEMA_REVISION = "0006"  # the newest migration in rules/record/migrations/versions (a test keeps them equal)
EMAILS_EVERY_S = 30.0  # how often a store reads the school e-mails the extension reported again
ANCHOR_EVERY_S = 1.0  # at most one anchor line a second per process; and one when the store closes

GENESIS = "0" * 64
metadata = sa.MetaData()

events = sa.Table(
    "events", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rule", sa.String(80), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("decision", sa.String(20), nullable=False),
    sa.Column("user", sa.String(120)),
    sa.Column("device", sa.String(120)),
    sa.Column("host", sa.String(255)),
    sa.Column("email", sa.String(254)),  # revision 0006: the person's school e-mail, where the extension knew it
    sa.Column("path", sa.String(300)),
    sa.Column("source", sa.String(20)),
    sa.Column("reason", sa.String(300)),
    sa.Column("message", sa.Text),  # what the person was told, whole (events.MAX_MESSAGE)
    sa.Column("clauses", sa.Text),
    sa.Column("evidence", sa.Text),
    sa.Column("purged", sa.Boolean, nullable=False, default=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("seal", sa.String(64)),  # rows stored before sealing began (revision 0002) have none
    # On the trust server (revision 0003): the school, the enrolled device it came from and that device's own chain
    # fields, whether they verified when they arrived, and the laptop's sent time and the server's received time.
    sa.Column("school", sa.String(120)),
    sa.Column("origin", sa.String(36)),
    sa.Column("origin_seq", sa.BigInteger),
    sa.Column("origin_prev", sa.String(64)),
    sa.Column("origin_hash", sa.String(64)),
    sa.Column("origin_seal", sa.String(64)),
    sa.Column("verified", sa.Boolean),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("received_at", sa.DateTime(timezone=True)),
)
for col in ("time", "user", "device", "rule", "severity", "decision", "host"):
    sa.Index(f"ix_events_{col}_time" if col != "time" else "ix_events_time",
             *([events.c[col]] if col == "time" else [events.c[col], events.c.time]), events.c.seq)
sa.Index("ix_events_user_rule_time", events.c.user, events.c.rule, events.c.time, events.c.seq)  # a person's rule
sa.Index("ix_events_origin_seq", events.c.origin, events.c.origin_seq, unique=True)
sa.Index("ix_events_school_time", events.c.school, events.c.time, events.c.seq)
sa.Index("ix_events_email_time", events.c.email, events.c.time, events.c.seq)  # a person across laptops

# The overview's counts (revision 0005): the events of a UTC day by school, rule and decision, and by school and
# destination, added to in the transaction that stores the events and taken from by the one that purges them.
# Counting the events themselves at request time took seconds at 10 million (docs/trust-server.md); these hold tens
# of thousands of rows. Two tables, not one keyed by all five: that one's rows multiply (rules x decisions x hosts).
# school and host are "" where an event has none (a laptop's events carry no school).
event_days = sa.Table(
    "event_days", metadata,
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD, UTC
    sa.Column("school", sa.String(120), primary_key=True),
    sa.Column("rule", sa.String(80), primary_key=True),
    sa.Column("decision", sa.String(20), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)
host_days = sa.Table(
    "host_days", metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("school", sa.String(120), primary_key=True),
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)
ROLLUPS = ((event_days, ("day", "school", "rule", "decision")), (host_days, ("day", "school", "host")))

chain = sa.Table(
    "chain_head", metadata,
    sa.Column("name", sa.String(20), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("seal", sa.String(64)),
)

# Each chain's sealing key: the key for row `next_seq`, hex. Only this one is kept (rules/record/seal.py).
seal_state = sa.Table(
    "seal_state", metadata,
    sa.Column("name", sa.String(20), primary_key=True),
    sa.Column("start_seq", sa.BigInteger, nullable=False),
    sa.Column("next_seq", sa.BigInteger, nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
)

# The trust server's schools (an enrolment secret each, kept as its SHA-256: it is a random token) and devices.
schools = sa.Table(
    "schools", metadata,
    sa.Column("name", sa.String(120), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)

devices = sa.Table(
    "devices", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("school", sa.String(120), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("public_key", sa.String(64), nullable=False),  # Ed25519, raw, hex: every batch is signed with it
    sa.Column("start_seq", sa.BigInteger, nullable=False),  # the device's verification key: where sealing began
    sa.Column("start_key", sa.String(64), nullable=False),
    sa.Column("next_seq", sa.BigInteger, nullable=False),  # the next sequence number expected from it
    sa.Column("next_key", sa.String(64), nullable=False),  # ... and the key that must have sealed it
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("enrolled", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True)),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Column("health", sa.Text),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# The dashboard's logged-in sessions, so that logout, a password change or the idle timeout ends a session on the
# server for every copy of its (client-side, signed) cookie. `id` is the SHA-256 of the random id in the cookie;
# times are the service's clock in epoch seconds.
admin_sessions = sa.Table(
    "admin_sessions", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(120), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)

# The dashboard's named accounts (issue 16; local_service/accounts.py): each one's grants, a JSON list of
# {"role": ..., "schools": ["*"] or [names]}; an argon2 password hash (none: signs in only through single sign-on);
# a TOTP secret (base32) and the last TOTP time step accepted, so a code is good once.
accounts = sa.Table(
    "accounts", metadata,
    sa.Column("email", sa.String(254), primary_key=True),  # lower-case; "admin" for the account of old installs
    sa.Column("grants", sa.Text, nullable=False),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("totp_secret", sa.String(64)),
    sa.Column("totp_last", sa.BigInteger),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)

# Triage (local_service/triage.py): a row per event of a triaged post, all of a post's rows alike (`post` is the id
# of the post's first event); events without a row are "new". Every change, with its note, is in triage_history.
triage = sa.Table(
    "triage", metadata,
    sa.Column("event", sa.String(36), primary_key=True),
    sa.Column("post", sa.String(36), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("assignee", sa.String(254)),
    sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_triage_post", triage.c.post)
sa.Index("ix_triage_status", triage.c.status)
sa.Index("ix_triage_assignee", triage.c.assignee)

triage_history = sa.Table(
    "triage_history", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("post", sa.String(36), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(254), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("assignee", sa.String(254)),
    sa.Column("note", sa.Text),
)
sa.Index("ix_triage_history_post", triage_history.c.post, triage_history.c.seq)

FILTERS = ("user", "email", "device", "rule", "severity", "decision", "host", "school", "origin")


@dataclass
class Filter:
    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    email: str | None = None
    device: str | None = None
    rule: str | None = None
    severity: str | None = None
    decision: str | None = None
    host: str | None = None
    school: str | None = None
    origin: str | None = None  # an enrolled device's id (the trust server)

    def clauses(self):
        out = []
        if self.since:
            out.append(events.c.time >= self.since)
        if self.until:
            out.append(events.c.time < self.until)
        for name in FILTERS:
            value = getattr(self, name)
            if value:
                out.append(events.c[name] == value)
        return out


@dataclass
class Page:
    rows: list[dict]
    next_cursor: str | None


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_break: int | None = None  # seq of the first row that does not verify
    reason: str = ""
    audit_ok: bool = True
    audit_reason: str = ""
    sealed: bool = False  # the seals were checked against a verification key
    notes: list[str] = field(default_factory=list)  # what was and was not proven, in words


@dataclass
class Retention:
    default_days: int = 90
    per_rule: dict[str, int] = field(default_factory=dict)

    @classmethod
    def current(cls, store: "Store", pack, config) -> "Retention":
        """The admin's setting (else the config's [service] retention_days, else 90), and the pack's per-rule
        periods."""
        days = store.get_setting("retention_days", config.service.retention_days)
        return cls(int(days), {r: s.retention_days for r, s in pack.rules.items() if s.retention_days})


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _link(prev: str, digest: str) -> str:
    return hashlib.sha256(f"{prev}:{digest}".encode()).hexdigest()


def _private_files(db: Path) -> None:
    """The database and its -wal, -shm and -journal files readable by their owner only, whatever existed before and
    whatever the umask: SQLite gives the files it creates the database file's mode, so the database is made 0600
    before SQLite first opens it, and any older companion is tightened."""
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
    for f in (db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        if f.exists() and os.name == "posix":
            f.chmod(0o600)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def database_url(config, override: str | None = None) -> str:
    """The record's database: `override` (a command's --database), else the config's [service] database, else the
    SQLite file in the data folder. The one place this is decided, for every process that opens the store."""
    url = override or config.service.database or sqlite_url(config.data_dir / "events.sqlite3")
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def open_store(config, database: str | None = None) -> "Store":
    """The record as the config places it: its database, its verification key file and its anchor file."""
    return Store(database_url(config, database), verify_key=verify_key_path(config),
                 anchors=_configured_or_data(config, config.service.anchors, "anchors"))


def verify_key_path(config) -> Path:
    return _configured_or_data(config, config.service.verify_key, "verify_key")


def _configured_or_data(config, value: str, name: str) -> Path:
    """A [service] path: as configured, else `name` in the data folder."""
    return Path(value).expanduser() if value else config.data_dir / name


class Store:
    def __init__(self, url: str, *, verify_key: Path | None = None, anchors: Path | None = None):
        """`verify_key`: where the first sealing key of a chain this store begins is written (once; see
        rules/record/seal.py); `anchors`: the file the chain head is anchored in. Both outside the database."""
        self.url = url
        self.verify_key_path = Path(verify_key) if verify_key else None
        self.anchor_path = Path(anchors) if anchors else None
        self._anchored = (0, 0.0)  # (seq, monotonic time) of this process's last anchor line
        is_sqlite = url.startswith("sqlite")
        if is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                _private_files(Path(path))
            args = {"timeout": 30, "check_same_thread": False}
            self.engine = sa.create_engine(url, connect_args=args)
            sa_event.listen(self.engine, "connect", _sqlite_pragmas)
            # Writers queue on SQLite's one write lock up front; readers never take it (WAL gives them a snapshot).
            sa_event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            self.reader = sa.create_engine(url, connect_args=args)
            sa_event.listen(self.reader, "connect", _sqlite_pragmas)
        else:
            self.engine = self.reader = sa.create_engine(url, pool_pre_ping=True)
        self.sqlite = is_sqlite
        self._lock = threading.Lock()
        self.listeners: list = []  # called with the newly stored events after each commit (alerts)
        self._leading = None  # the connection holding the background jobs' lock (lead())
        self._emails: tuple[float, dict] | None = None  # (when read, school_emails())
        self._migrate()
        if is_sqlite and path and path != ":memory:":
            _private_files(Path(path))

    def _migrate(self) -> None:
        """Create the schema, or bring an older one up to SCHEMA_REVISION, under the database's write lock so that
        two processes opening a new store at once do not both create it."""
        with self.engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite
            if not self.sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7210514)"))  # any fixed number, PostGuard's own
            tables = set(sa.inspect(conn).get_table_names())
            if "alembic_version" in tables and conn.scalar(sa.text("SELECT version_num FROM alembic_version")) \
                    == SCHEMA_REVISION:
                return
            from alembic import command  # imported only when there is something to migrate (about 0.1 s)
            from alembic.config import Config as AlembicConfig

            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
            cfg.attributes["connection"] = conn
            if "events" not in tables:  # a new store: today's schema at once (Alembic's cookbook: create, stamp)
                metadata.create_all(conn)
                command.stamp(cfg, "head")
            else:
                if "alembic_version" not in tables:  # made before migrations existed
                    command.stamp(cfg, "0001")
                command.upgrade(cfg, "head")
            for name in sealing.CHAINS:  # sealing begins now, so the verification key is written by whoever
                self._sealing_key(conn, name, self._head(conn, name)[0] + 1)  # sets the record up (IT, as root)

    def close(self) -> None:
        if self.anchor_path is not None and self._unanchored:
            try:
                self.anchor()
            except Exception as e:  # closing must not fail because the anchor's folder went away
                log.warning("could not anchor the record on closing: %s", e)
        if self._leading is not None:
            with contextlib.suppress(Exception):
                self._leading.close()
            self._leading = None
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    def lead(self) -> bool:
        """Whether this process runs the server's background jobs (silent devices, the daily checkpoint, alert
        escalations and digests), so that several app servers on one database do not each send them: on
        PostgreSQL, a session advisory lock held on a connection of its own for as long as this process lives (or
        until that connection drops, when another server's next call takes it); on SQLite, one server, always."""
        if self.sqlite:
            return True
        if self._leading is not None:
            try:
                self._leading.exec_driver_sql("SELECT 1")
                return True
            except Exception:  # the connection (and with it the lock) is gone: try again below
                with contextlib.suppress(Exception):
                    self._leading.close()
                self._leading = None
        conn = self.engine.connect()
        try:
            got = conn.scalar(sa.text("SELECT pg_try_advisory_lock(7210515)"))  # the jobs' own fixed number
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._leading = conn
        else:
            conn.close()
        return bool(got)

    # -- writing -------------------------------------------------------------------------------------------------

    def append(self, items: Event | list[Event]) -> list[str]:
        """Store events; returns their ids once committed. Idempotent: an id already stored is not stored again."""
        batch = [items] if isinstance(items, Event) else list(items)
        if not batch:
            return []
        with self._lock, self.engine.begin() as conn:
            stored = self._append(conn, batch)
        self._after_append(stored)
        return [e.id for e in batch]

    def school_emails(self) -> dict[str, str]:
        """{OS account: school e-mail} as the extension reported them on this laptop (set_school_email); read again
        at most every EMAILS_EVERY_S, so a proxy in another process learns a new one soon."""
        now = _time.monotonic()
        if self._emails is None or now - self._emails[0] > EMAILS_EVERY_S:
            self._emails = (now, self.get_setting("school_emails", {}) or {})
        return self._emails[1]

    def set_school_email(self, user: str, email: str) -> bool:
        """Remember `user`'s school e-mail; every event of theirs stored from now on names it. True when it
        changed."""
        emails = dict(self.school_emails())
        if emails.get(user) == email:
            return False
        emails[user] = email
        self.set_setting("school_emails", emails)
        self._emails = (_time.monotonic(), emails)
        return True

    def _append(self, conn, batch: list[Event], extras: list[dict] | None = None) -> list[Event]:
        """Store `batch` in this transaction; `extras`, one dict a event, adds the trust server's columns. An event
        of an OS account whose school e-mail this laptop knows (school_emails) is stamped with it before it is
        hashed; the trust server's own events (extras) are stored as they came."""
        emails = self.school_emails() if extras is None else {}
        for e in batch if emails else ():
            if not e.email and e.user in emails:
                e.email = emails[e.user]
        head_seq, head = self._head(conn, "events")
        ids = [e.id for e in batch]
        existing = set(conn.scalars(sa.select(events.c.id).where(events.c.id.in_(ids))))
        rows, stored, seen = [], [], set()
        key = self._sealing_key(conn, "events", head_seq + 1)
        for i, e in enumerate(batch):
            if e.id in existing or e.id in seen:
                continue
            seen.add(e.id)
            stored.append(e)
            head_seq += 1
            digest = extras[i]["origin_digest"] if extras and "origin_digest" in extras[i] else _digest(e.content())
            h = _link(head, digest)
            rows.append(self._row(e, head_seq, digest, head, h, sealing.seal(key, head_seq, h, _header(e))))
            if extras:
                rows[-1].update({k: v for k, v in extras[i].items() if k != "origin_digest"})
            key, head = sealing.evolve(key), h
        if rows:
            conn.execute(events.insert(), rows)
            self._count_days(conn, Counter(
                (_day(r["time"]), r.get("school") or "", r["rule"], r["decision"], r["host"] or "")
                for r in rows if not r["purged"]))
            self._set_head(conn, "events", head_seq, head)
            self._set_key(conn, "events", head_seq + 1, key)
            self._unanchored = True
        return stored

    def _count_days(self, conn, counts: "Counter[tuple]", sign: int = 1) -> None:
        """Add `counts` ({(day, school, rule, decision, host): n}) to the overview's rollups (sign -1: take them
        away). In key order, so that concurrent transactions lock the rows they share in the same order."""
        full = ("day", "school", "rule", "decision", "host")
        for table, key in ROLLUPS:
            part: Counter[tuple] = Counter()
            for k, n in counts.items():
                part[tuple(k[full.index(c)] for c in key)] += n
            if not part:
                continue
            if sign < 0:
                for k in sorted(part):
                    conn.execute(table.update().where(*[table.c[c] == v for c, v in zip(key, k)])
                                 .values(n=table.c.n - part[k]))
                conn.execute(table.delete().where(table.c.n <= 0))
                continue
            insert = (sqlite_insert if self.sqlite else pg_insert)(table)
            conn.execute(insert.on_conflict_do_update(index_elements=list(key),
                                                      set_={"n": table.c.n + insert.excluded.n}),
                         [dict(zip(key, k), n=part[k]) for k in sorted(part)])

    def _after_append(self, stored: list[Event]) -> None:
        if stored:
            self._maybe_anchor()
        for listener in self.listeners if stored else ():
            listener(stored)

    @staticmethod
    def _row(e: Event, seq: int, digest: str, prev: str, h: str, seal: str) -> dict:
        return {"seq": seq, "id": e.id, "time": e.time, "rule": e.rule, "severity": e.severity,
                "decision": e.decision, "user": e.user, "email": e.email or None, "device": e.device, "host": e.host, "path": e.path,
                "source": e.source, "reason": e.reason, "message": e.message,
                "clauses": json.dumps(e.clauses, ensure_ascii=False),
                "evidence": json.dumps(e.evidence, ensure_ascii=False), "purged": False, "digest": digest,
                "prev_hash": prev, "hash": h, "seal": seal}

    def _head(self, conn, name: str) -> tuple[int, str]:
        q = sa.select(chain.c.seq, chain.c.hash).where(chain.c.name == name)
        if not self.sqlite:
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            conn.execute(chain.insert().values(name=name, seq=0, hash=GENESIS))
            if not self.sqlite:  # lock the new row too
                conn.execute(q).first()
            return 0, GENESIS
        return row.seq, row.hash

    @staticmethod
    def _set_head(conn, name: str, seq: int, h: str) -> None:
        conn.execute(chain.update().where(chain.c.name == name).values(seq=seq, hash=h))

    def _sealing_key(self, conn, name: str, next_seq: int) -> bytes:
        """The key that seals row `next_seq` of chain `name`; sealing begins here if it has not yet (a new store, or
        one from before seals), and its first key goes to the verification key file, never into the database."""
        row = conn.execute(sa.select(seal_state).where(seal_state.c.name == name)).first()
        if row is not None and row.next_seq == next_seq:
            return bytes.fromhex(row.key)
        if row is not None:  # someone moved the head or the state by hand: keep sealing, verify will say where
            log.error("the %s chain's sealing state is at %s but its head at %s: the record was edited",
                      name, row.next_seq, next_seq - 1)
            return sealing.evolve(bytes.fromhex(row.key), max(0, next_seq - row.next_seq))
        key = sealing.new_key()
        conn.execute(seal_state.insert().values(name=name, start_seq=next_seq, next_seq=next_seq, key=key.hex()))
        log.info("sealing the %s chain from row %s: %s", name, next_seq,
                 sealing.record_start(self.verify_key_path, name, sealing.Start(next_seq, key)))
        return key

    @staticmethod
    def _set_key(conn, name: str, next_seq: int, key: bytes) -> None:
        conn.execute(seal_state.update().where(seal_state.c.name == name).values(next_seq=next_seq, key=key.hex()))

    _unanchored = False  # rows were stored since this process last wrote an anchor line

    def _maybe_anchor(self) -> None:
        if self.anchor_path is None or not self._unanchored:
            return
        if _time.monotonic() - self._anchored[1] >= ANCHOR_EVERY_S:
            try:
                self.anchor()
            except OSError as e:
                log.error("could not anchor the record in %s: %s", self.anchor_path, e)

    def anchor(self) -> int | None:
        """Write the events chain's head to the anchor file (if it moved since this process last did); its seq."""
        if self.anchor_path is None:
            return None
        (seq, h), state = self._events_head()
        if state is None or seq == 0 or state.next_seq != seq + 1:
            return None
        if seq != self._anchored[0]:
            sealing.append_anchor(self.anchor_path, seq, h, bytes.fromhex(state.key))
        self._anchored = (seq, _time.monotonic())
        self._unanchored = False
        return seq

    def audit(self, actor: str, action: str, detail: dict | None = None) -> None:
        """Record an admin's view or export. Append-only: nothing in the service edits or deletes it."""
        with self._lock, self.engine.begin() as conn:
            seq, head = self._head(conn, "audit")
            seq += 1
            key = self._sealing_key(conn, "audit", seq)
            now = utcnow()
            text = json.dumps(detail or {}, sort_keys=True, ensure_ascii=False)
            h = _link(head, _digest(_audit_text(now, actor, action, text).encode()))
            conn.execute(audit.insert().values(seq=seq, time=now, actor=actor, action=action, detail=text,
                                               prev_hash=head, hash=h, seal=sealing.seal(key, seq, h, "")))
            self._set_head(conn, "audit", seq, h)
            self._set_key(conn, "audit", seq + 1, sealing.evolve(key))

    # -- reading -------------------------------------------------------------------------------------------------

    def get(self, event_id: str) -> dict | None:
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(events).where(events.c.id == event_id)).mappings().first()
        return _public(row) if row else None

    def list(self, flt: Filter | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        """Newest first, keyset-paged: the cursor is the last row's (time, seq), so page 1,000 costs what page 1
        does."""
        flt = flt or Filter()
        q = sa.select(events).where(*flt.clauses())
        if cursor:
            t, seq = _decode_cursor(cursor)
            q = q.where(sa.or_(events.c.time < t, sa.and_(events.c.time == t, events.c.seq < seq)))
        q = q.order_by(events.c.time.desc(), events.c.seq.desc()).limit(limit + 1)
        with self.reader.connect() as conn:
            rows = [_public(r) for r in conn.execute(q).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = _encode_cursor(rows[-1]["_time"], rows[-1]["seq"]) if more and rows else None
        return Page(rows, nxt)

    def iter_all(self, flt: Filter | None = None, batch: int = 1000):
        """Every matching event, newest first, for exports; reads in batches, never the whole log at once."""
        cursor = None
        while True:
            page = self.list(flt, batch, cursor)
            yield from page.rows
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def count(self, flt: Filter | None = None) -> int:
        with self.reader.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(events).where(*(flt or Filter()).clauses()))

    def distinct(self, column: str, limit: int = 200) -> list[str]:
        """Values for a filter's drop-down (rules, decisions, hosts, users)."""
        if column not in FILTERS:
            raise ValueError(f"not a filter column: {column!r}")
        c = events.c[column]
        with self.reader.connect() as conn:
            return [v for v in conn.scalars(sa.select(c).where(c.isnot(None), c != "").distinct().order_by(c)
                                            .limit(limit))]

    def _day_sql(self):
        """An event's UTC day as YYYY-MM-DD, in SQL (SQLite holds times as UTC text)."""
        if self.sqlite:
            return sa.func.date(events.c.time)
        return sa.func.to_char(sa.func.timezone("UTC", events.c.time), "YYYY-MM-DD")

    def stats(self, since: datetime, flt: Filter | None = None) -> dict:
        """Counts for the overview since `since`: events per day by rule, by decision, and the top destinations.
        From the daily rollup when `since` is a UTC midnight and `flt` asks only for schools (the overview, the
        schools page); otherwise counted from the events."""
        flt = flt or Filter()
        since = _aware(since).astimezone(timezone.utc)
        asked = {k for k, v in vars(flt).items() if v is not None and v != "" and k != "schools"} - {"school"}
        if asked or since != since.replace(hour=0, minute=0, second=0, microsecond=0):
            return self.stats_from_events(since, flt)

        def where(t):
            out = [t.c.day >= since.date().isoformat()]
            if flt.school:
                out.append(t.c.school == flt.school)
            if getattr(flt, "schools", None) is not None:
                out.append(t.c.school.in_(list(flt.schools)))
            return out

        d, h = event_days, host_days
        with self.reader.connect() as conn:
            per_day = conn.execute(sa.select(d.c.day, d.c.rule, sa.func.sum(d.c.n)).where(*where(d))
                                   .group_by(d.c.day, d.c.rule).order_by(d.c.day, d.c.rule)).all()
            n = sa.func.sum(d.c.n).label("n")
            decisions = conn.execute(sa.select(d.c.decision, n).where(*where(d)).group_by(d.c.decision)
                                     .order_by(sa.desc("n"), d.c.decision)).all()
            n = sa.func.sum(h.c.n).label("n")
            hosts = conn.execute(sa.select(h.c.host, n).where(*where(h), h.c.host != "").group_by(h.c.host)
                                 .order_by(sa.desc("n"), h.c.host).limit(10)).all()
        return {"per_day": [(day, rule, int(k)) for day, rule, k in per_day],
                "decisions": [(what, int(k)) for what, k in decisions],
                "hosts": [(host, int(k)) for host, k in hosts]}

    def stats_from_events(self, since: datetime, flt: Filter | None = None) -> dict:
        """stats(), counted from the events themselves: any filter, any start; slow on a big trust server."""
        flt = flt or Filter()
        where = [events.c.time >= since, events.c.purged.is_(False), *flt.clauses()]
        day = self._day_sql().label("day")
        n = sa.func.count().label("n")
        with self.reader.connect() as conn:
            per_day = conn.execute(sa.select(day, events.c.rule, n).where(*where)
                                   .group_by(day, events.c.rule).order_by(day, events.c.rule)).all()
            decisions = conn.execute(sa.select(events.c.decision, n).where(*where)
                                     .group_by(events.c.decision).order_by(sa.desc("n"), events.c.decision)).all()
            hosts = conn.execute(sa.select(events.c.host, n).where(*where, events.c.host != "")
                                 .group_by(events.c.host).order_by(sa.desc("n"), events.c.host).limit(10)).all()
        return {"per_day": [(str(d), r, k) for d, r, k in per_day], "decisions": [tuple(r) for r in decisions],
                "hosts": [tuple(r) for r in hosts]}

    def audit_entries(self, limit: int = 100) -> list[dict]:
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(audit).order_by(audit.c.seq.desc()).limit(limit)).mappings().all()
        return [dict(r) | {"detail": json.loads(r["detail"] or "{}")} for r in rows]

    # -- forwarding: the laptop's outbox ----------------------------------------------------------------------

    def _events_head(self, with_state: bool = True):
        """((seq, hash) of the events chain's head, its sealing state row or None), read together."""
        with self.reader.connect() as conn:
            head = conn.execute(sa.select(chain.c.seq, chain.c.hash).where(chain.c.name == "events")).first()
            state = conn.execute(sa.select(seal_state).where(seal_state.c.name == "events")).first() \
                if with_state else None
        return ((head.seq, head.hash) if head else (0, GENESIS)), state

    def head(self) -> tuple[int, str]:
        return self._events_head(with_state=False)[0]

    def head_proof(self) -> dict:
        """The events chain's head, sealed with the key for the row after it (as an anchor line is): the trust
        server, holding the same key, knows from it that no newest rows were removed before they were sent."""
        (seq, h), state = self._events_head()
        proof = {"seq": seq, "hash": h}
        if state is not None:
            proof["seal"] = sealing.anchor_seal(bytes.fromhex(state.key), seq, h)
        return proof

    def outbox(self, after: int, limit: int) -> list[dict]:
        """Events after sequence number `after`, oldest first, as the laptop sends them: every field and its chain
        fields, the time to the microsecond (the seal covers it)."""
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(*[events.c[n] for n in WIRE_FIELDS]).where(events.c.seq > after)
                                .order_by(events.c.seq).limit(limit)).mappings().all()
        return [_wire(r) for r in rows]

    # -- the trust server: schools, devices, and what they forward ---------------------------------------------

    def school_add(self, name: str, secret: str) -> bool:
        """False when the school exists already."""
        with self._lock, self.engine.begin() as conn:
            if conn.scalar(sa.select(schools.c.name).where(schools.c.name == name)) is not None:
                return False
            conn.execute(schools.insert().values(name=name, secret_hash=_secret_hash(secret), created=utcnow()))
        return True

    def school_rotate(self, name: str, secret: str) -> bool:
        with self._lock, self.engine.begin() as conn:
            return bool(conn.execute(schools.update().where(schools.c.name == name)
                                     .values(secret_hash=_secret_hash(secret))).rowcount)

    def school_for_secret(self, secret: str) -> str | None:
        with self.reader.connect() as conn:
            return conn.scalar(sa.select(schools.c.name).where(schools.c.secret_hash == _secret_hash(secret)))

    def schools(self) -> list[str]:
        with self.reader.connect() as conn:
            return list(conn.scalars(sa.select(schools.c.name).order_by(schools.c.name)))

    def device_enrol(self, device_id: str, school: str, name: str, public_key: str, start: sealing.Start) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(devices.insert().values(
                id=device_id, school=school, name=name, public_key=public_key, start_seq=start.seq,
                start_key=start.key.hex(), next_seq=1, next_key=start.key.hex(), last_hash=GENESIS,
                enrolled=utcnow(), revoked=False))

    def device(self, device_id: str) -> dict | None:
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(devices).where(devices.c.id == device_id)).mappings().first()
        return _device(row) if row else None

    def devices(self, school: str | None = None) -> list[dict]:
        q = sa.select(devices).order_by(devices.c.school, devices.c.name)
        if school:
            q = q.where(devices.c.school == school)
        with self.reader.connect() as conn:
            return [_device(r) for r in conn.execute(q).mappings()]

    def integrity_counts(self, since: datetime) -> dict[str, int]:
        """Integrity events (integrity.*) per school since `since`."""
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(events.c.school, sa.func.count()).where(
                events.c.rule.like("integrity.%"), events.c.time >= since).group_by(events.c.school))
            return {school: n for school, n in rows if school}

    def origin_hash(self, device_id: str, seq: int) -> str | None:
        """The hash a device gave its event `seq`, as held here."""
        with self.reader.connect() as conn:
            return conn.scalar(sa.select(events.c.origin_hash).where(events.c.origin == device_id,
                                                                      events.c.origin_seq == seq))

    def device_health(self, device_id: str, health: dict) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(devices.update().where(devices.c.id == device_id).values(health=json.dumps(health)))

    def device_revoke(self, device_id: str) -> bool:
        with self._lock, self.engine.begin() as conn:
            return bool(conn.execute(devices.update().where(devices.c.id == device_id).values(revoked=True))
                        .rowcount)

    def ingest(self, device_id: str, batch: list[dict], *, sent_at: datetime, head: dict | None,
               dropped: tuple[int, int] | None = None, health: dict | None = None) -> "Ingested":
        """Store a device's batch idempotently by (device, seq), checking that it continues the device's sealed
        chain; returns the highest contiguous sequence number now held. Every problem (a changed or re-sealed row,
        a gap, a replay of a sequence number with other content, a device rewound to an older copy, a revoked
        device) is kept, and becomes an integrity event the reviewers see; the events themselves are kept too,
        marked unverified, so nothing a device sends is lost.

        On PostgreSQL the row locks order concurrent batches (the device's row, then the server's chain head), so
        a worker's threads ingest in parallel and their commits share a WAL flush; this process's lock serialises
        only SQLite's one writer (bench/fleet_bench.py: 2 workers held 4 threads' batches to 2 at a time)."""
        received = utcnow()
        if not batch and health is not None and not self.sqlite:
            # A heartbeat (most batches): its row's last_seen and health are all it changes, so one UPDATE in
            # autocommit (its own transaction: one round trip, not BEGIN, UPDATE, COMMIT) returns the row, and its
            # commit need not wait for the WAL flush (what it acknowledges was flushed by an earlier commit; a crash
            # loses at most a heartbeat). A revoked device, or a head that shows a problem, goes the whole way
            # below, which records it (bench/fleet_bench.py).
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                beat = conn.execute(HEARTBEAT, {"device": device_id, "seen": received, "health": json.dumps(
                    _with_skew(health, sent_at, received))}).mappings().first()
            if beat is not None and not _rewound(beat, head) and not _truncated(_DeviceChain(beat), beat, head):
                return Ingested(beat["next_seq"] - 1)
        with self._lock if self.sqlite else contextlib.nullcontext(), self.engine.begin() as conn:
            q = sa.select(devices).where(devices.c.id == device_id)
            dev = conn.execute(q if self.sqlite else q.with_for_update()).mappings().first()
            if dev is None:
                return Ingested(0, refused="unknown device: enrol again")
            if dev["revoked"]:  # refused, and reported at most once an hour however often it retries
                last = conn.scalar(sa.select(sa.func.max(events.c.time)).where(
                    events.c.origin == device_id, events.c.rule == "integrity.revoked"))
                if last is None or _aware(last) < received - timedelta(hours=1):
                    self._record_integrity(conn, dev, [(
                        "revoked", "medium", {"events": len(batch)},
                        f"the revoked device {dev['name']} sent {len(batch)} events; they were refused")], received)
                return Ingested(dev["next_seq"] - 1, refused="this device was revoked")
            check = _DeviceChain(dev)
            kept, extras, problems = [], [], []
            problems.extend(filter(None, [_rewound(dev, head)]))
            for w in sorted(batch, key=lambda w: w["seq"]):
                if w["seq"] < check.next_seq:
                    held = conn.scalar(sa.select(events.c.origin_hash).where(
                        events.c.origin == device_id, events.c.origin_seq == w["seq"]))
                    if held is not None and held != w["hash"]:
                        problems.append(("replayed", "high", {"seq": w["seq"]},
                                         f"{dev['name']} sent event {w['seq']} again with other content: it was "
                                         "rewound to an older copy and wrote new events over the old numbers"))
                    continue
                if w["seq"] > check.next_seq:
                    first, last = check.next_seq, w["seq"] - 1
                    declared = dropped is not None and dropped[0] <= first and last <= dropped[1]
                    problems.append(("dropped" if declared else "gap", "medium" if declared else "high",
                                     {"from": first, "to": last},
                                     f"{dev['name']}'s outbox was full and dropped events {first} to {last}"
                                     if declared else f"events {first} to {last} of {dev['name']} never arrived: "
                                     "they were deleted on the laptop"))
                    check.skip_to(w["seq"], w["prev_hash"])
                event, problem = check.step(w)
                if problem:
                    problems.append(("chain_break", "high", {"seq": w["seq"]}, f"{dev['name']}: {problem}"))
                kept.append(event)
                extras.append({"school": dev["school"], "origin": device_id, "origin_seq": w["seq"],
                               "origin_prev": w["prev_hash"], "origin_hash": w["hash"],
                               "origin_seal": w.get("seal"), "verified": not problem, "sent_at": sent_at,
                               "received_at": received, "purged": bool(w.get("purged")),
                               # the server's chain covers the content as it arrived; an emptied row has only
                               # the device's digest of what it held
                               **({"origin_digest": w["digest"]} if w.get("purged") else {})})
            if not problems:
                problems.extend(filter(None, [_truncated(check, dev, head)]))
            # The device's row first: from _append on, the server's chain head is locked until the commit.
            conn.execute(devices.update().where(devices.c.id == device_id).values(
                next_seq=check.next_seq, next_key=check.key.hex(), last_hash=check.last, last_seen=received,
                health=json.dumps(_with_skew(health, sent_at, received)) if health is not None
                else dev["health"]))
            if kept:  # a heartbeat does not wait for the server's chain
                self._append(conn, kept, extras)
            self._record_integrity(conn, dev, _first_of_each(problems), received)
            acked = check.next_seq - 1
        return Ingested(acked, problems=[p[3] for p in problems])

    def _record_integrity(self, conn, dev, problems: list[tuple], when: datetime) -> None:
        if not problems:
            return
        evs = [Event(rule=f"integrity.{kind}", decision="recorded", severity=severity, source="server",
                     device=dev["name"][:120], message=text[:4000], evidence=evidence, time=when)
               for kind, severity, evidence, text in problems]
        self._append(conn, evs, [{"school": dev["school"], "origin": dev["id"], "verified": True,
                                  "received_at": when} for _ in evs])

    def verify_devices(self) -> list["DeviceCheck"]:
        """Each enrolled device's record as held here, walked again from its verification key: the events held,
        and the first break, gap or replay, or "" when intact (integrity events recorded at arrival count)."""
        out = []
        with self.reader.connect() as conn:
            for dev in conn.execute(sa.select(devices).order_by(devices.c.school, devices.c.name)).mappings():
                check = _DeviceChain(dict(dev, next_seq=1, next_key=dev["start_key"], last_hash=GENESIS))
                held, problem = 0, ""
                declared = [json.loads(e or "{}") for e in conn.scalars(sa.select(events.c.evidence).where(
                    events.c.origin == dev["id"], events.c.rule == "integrity.dropped"))]
                rows = conn.execution_options(yield_per=2000).execute(
                    sa.select(events).where(events.c.origin == dev["id"], events.c.origin_seq.isnot(None))
                    .order_by(events.c.origin_seq))
                for row in rows.mappings():
                    held += 1
                    if problem:
                        continue
                    w = _wire({k: row[k] for k in WIRE_FIELDS}) | {
                        "seq": row["origin_seq"], "prev_hash": row["origin_prev"], "hash": row["origin_hash"],
                        "seal": row["origin_seal"]}
                    if w["seq"] > check.next_seq and any(
                            d.get("from") == check.next_seq and d.get("to") == w["seq"] - 1 for d in declared):
                        check.skip_to(w["seq"], w["prev_hash"])  # given up by the laptop's full outbox, and said so
                    if w["seq"] != check.next_seq:
                        problem = f"events {check.next_seq} to {w['seq'] - 1} are missing"
                        continue
                    problem = check.step(w)[1]
                recorded = conn.execute(sa.select(events.c.rule, events.c.message).where(
                    events.c.origin == dev["id"], events.c.rule.like("integrity.%"),
                    events.c.rule != "integrity.dropped").order_by(events.c.seq).limit(1)).first()
                if not problem and recorded is not None:
                    problem = recorded.message or recorded.rule
                out.append(DeviceCheck(dev["id"], dev["name"], dev["school"], held, problem))
        return out

    # -- settings ------------------------------------------------------------------------------------------------

    def get_setting(self, key: str, default=None):
        with self.reader.connect() as conn:
            value = conn.scalar(sa.select(settings.c.value).where(settings.c.key == key))
        return default if value is None else json.loads(value)

    def set_setting(self, key: str, value) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(settings.delete().where(settings.c.key == key))
            conn.execute(settings.insert().values(key=key, value=json.dumps(value)))

    def update_setting(self, key: str, change, default=None):
        """Read, change and write one setting as one atomic step: `change(value)` returns (new value, result) and
        this returns the result. The row is locked for the whole transaction (SQLite: BEGIN IMMEDIATE, which every
        process's writers queue on; PostgreSQL: SELECT ... FOR UPDATE), so parallel callers, in this process or
        in other workers, each see the value the one before them wrote."""
        insert = sqlite_insert if self.sqlite else pg_insert
        with self._lock, self.engine.begin() as conn:
            conn.execute(insert(settings).values(key=key, value=json.dumps(default))
                         .on_conflict_do_nothing(index_elements=[settings.c.key]))
            q = sa.select(settings.c.value).where(settings.c.key == key)
            raw = conn.scalar(q if self.sqlite else q.with_for_update())
            new, result = change(default if raw is None else json.loads(raw))
            done = conn.execute(settings.update().where(settings.c.key == key).values(value=json.dumps(new)))
            if not done.rowcount:  # deleted by a concurrent set_setting between our insert and our lock
                conn.execute(settings.insert().values(key=key, value=json.dumps(new)))
        return result

    # -- the dashboard's sessions --------------------------------------------------------------------------------

    def admin_session_create(self, sid_hash: str, account: str, now: float) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(admin_sessions.insert().values(id=sid_hash, account=account, created=now, last_seen=now))

    def admin_session_touch(self, sid_hash: str, now: float, idle_s: float) -> str:
        """"in" (and last_seen is now `now`), "idle" (unused for more than idle_s: deleted now) or "out" (no such
        session: logged out, revoked, or never created)."""
        with self._lock, self.engine.begin() as conn:
            alive = conn.execute(admin_sessions.update()
                                 .where(admin_sessions.c.id == sid_hash, admin_sessions.c.last_seen >= now - idle_s)
                                 .values(last_seen=sa.func.max(admin_sessions.c.last_seen, now) if self.sqlite
                                         else sa.func.greatest(admin_sessions.c.last_seen, now)))
            if alive.rowcount:
                return "in"
            gone = conn.execute(admin_sessions.delete().where(admin_sessions.c.id == sid_hash))
            return "idle" if gone.rowcount else "out"

    def admin_session_delete(self, sid_hash: str) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(admin_sessions.delete().where(admin_sessions.c.id == sid_hash))

    def admin_sessions_end(self, account: str | None = None, idle_before: float | None = None) -> int:
        """Delete every session (of `account` when given; only those last seen before `idle_before` when given)."""
        q = admin_sessions.delete()
        if account is not None:
            q = q.where(admin_sessions.c.account == account)
        if idle_before is not None:
            q = q.where(admin_sessions.c.last_seen < idle_before)
        with self._lock, self.engine.begin() as conn:
            return conn.execute(q).rowcount or 0

    # -- retention and verification ------------------------------------------------------------------------------

    def purge(self, retention: Retention, now: datetime | None = None) -> int:
        """Empty the content of events past their retention period, keeping their header, digest, hash and seal,
        and log the purge, with the retention it applied, in the same transaction. Purge events themselves are kept
        whole: they hold no personal data, and verify reads them to check each emptied row."""
        now = now or utcnow()
        with self._lock, self.engine.begin() as conn:
            rules = retention.per_rule
            conds = [sa.and_(events.c.rule == rule, events.c.time < now - timedelta(days=days))
                     for rule, days in rules.items()]
            default = sa.and_(events.c.rule.notin_(list(rules)) if rules else sa.true(),
                              events.c.time < now - timedelta(days=retention.default_days))
            due = [events.c.purged.is_(False), events.c.rule != PURGE_RULE, sa.or_(default, *conds)]
            day = self._day_sql()
            gone: Counter[tuple] = Counter()
            for *key, n in conn.execute(sa.select(day, events.c.school, events.c.rule, events.c.decision,
                                                  events.c.host, sa.func.count()).where(*due)
                                        .group_by(day, events.c.school, events.c.rule, events.c.decision,
                                                  events.c.host)):
                gone[(str(key[0]), key[1] or "", key[2], key[3], key[4] or "")] += n
            self._count_days(conn, gone, -1)
            result = conn.execute(events.update().where(*due)
                                  .values(purged=True, user=None, email=None, device=None, host=None, path=None, reason=None,
                                          message=None, evidence=None, clauses=None))
            total = result.rowcount or 0
            stored = self._append(conn, [Event(
                rule=PURGE_RULE, decision="purged", severity="info", source="service",
                evidence={"events": total, "default_days": retention.default_days,
                          "per_rule_days": retention.per_rule, "as_of": now.isoformat()})]) if total else []
        self._after_append(stored)
        return total

    def verify(self, keys: dict[str, sealing.Start] | None = None, anchors: Path | None = None,
               retention: Retention | None = None) -> VerifyResult:
        """Walk both chains in order and report the first row that does not hold: its digest, its link to the row
        before, its seal under the key of its own sequence number (with `keys`, the verification key), a missing
        sequence number, a row emptied before its retention had passed; then the chain heads, the sealing state and
        the anchors (default: this store's anchor file). `retention`, the one in force, adds a note for any purge
        that used a shorter one."""
        keys = keys or {}
        anchor_path = anchors if anchors is not None else self.anchor_path
        found, bad_lines = sealing.read_anchors(anchor_path) if anchor_path else ([], [])
        with self.reader.connect() as conn:
            walk = _Walk("events", keys.get("events"), conn, {a.seq for a in found})
            purges = [(r.seq, _aware(r.time), json.loads(r.evidence or "{}")) for r in conn.execute(
                sa.select(events.c.seq, events.c.time, events.c.evidence)
                .where(events.c.rule == PURGE_RULE, events.c.purged.is_(False)).order_by(events.c.seq))]
            rows = conn.execution_options(yield_per=2000).execute(sa.select(events).order_by(events.c.seq))
            for row in rows.mappings():
                problem = walk.step(row, _row_header(row), None if row["purged"] else _digest(_event(row).content()))
                if not problem and row["purged"] and not _purge_allowed(row, purges):
                    problem = (f"event {row['seq']} was emptied, but no purge after it allowed that: its retention "
                               "period had not passed")
                if problem:
                    return VerifyResult(False, walk.checked, row["seq"], problem, sealed=walk.sealed)
            problem = walk.finish() or _anchor_problem(found, bad_lines, walk, anchor_path)
            if problem:
                return VerifyResult(False, walk.checked, walk.prev_seq + 1, problem, sealed=walk.sealed)
            audit_walk = _Walk("audit", keys.get("audit"), conn, set())
            audit_reason = ""
            for row in conn.execute(sa.select(audit).order_by(audit.c.seq)).mappings():
                text = _audit_text(_aware(row["time"]), row["actor"], row["action"], row["detail"])
                audit_reason = audit_walk.step(row, "", _digest(text.encode()))
                if audit_reason:
                    break
            audit_reason = audit_reason or audit_walk.finish()
        notes = walk.notes() + [f"audit log: {n}" for n in audit_walk.notes() if "not checked" not in n]
        if retention is not None:
            notes += [f"the purge at event {seq} kept events {ev.get('default_days')} days, less than the "
                      f"{retention.default_days} now set" for seq, _t, ev in purges
                      if isinstance(ev.get("default_days"), int) and ev["default_days"] < retention.default_days]
        notes += [f"the purge at event {seq} applied retention as of {_as_of(ev):%Y-%m-%d}, after its own date"
                  for seq, when, ev in purges if (_as_of(ev) or when) > when + timedelta(days=1)]
        if anchor_path:
            notes.append(f"{len(found)} anchors checked in {anchor_path}" if found else
                         f"no anchors in {anchor_path} yet")
        return VerifyResult(True, walk.checked, audit_ok=not audit_reason, audit_reason=audit_reason,
                            sealed=walk.sealed, notes=notes)

    # -- reviewers: named accounts, their sessions, triage (issue 16) --------------------------------------------

    def account_get(self, email: str) -> dict | None:
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.email == email)).mappings().first()
        return _account(row) if row else None

    def accounts_all(self) -> list[dict]:
        with self.reader.connect() as conn:
            return [_account(r) for r in conn.execute(sa.select(accounts).order_by(accounts.c.email)).mappings()]

    def account_put(self, email: str, grants: list[dict]) -> bool:
        """Create the account with these grants, or replace an existing one's grants. True: it was created."""
        with self._lock, self.engine.begin() as conn:
            done = conn.execute(accounts.update().where(accounts.c.email == email).values(grants=json.dumps(grants)))
            if done.rowcount:
                return False
            conn.execute(accounts.insert().values(email=email, grants=json.dumps(grants), created=utcnow()))
            return True

    def account_update(self, email: str, **values) -> bool:
        """Set password_hash, totp_secret or totp_last of an existing account. False: there is no such account."""
        unknown = set(values) - {"password_hash", "totp_secret", "totp_last"}
        if unknown:
            raise ValueError(f"not an account field: {', '.join(sorted(unknown))}")
        with self._lock, self.engine.begin() as conn:
            return bool(conn.execute(accounts.update().where(accounts.c.email == email).values(**values)).rowcount)

    def account_remove(self, email: str) -> bool:
        """Delete the account and end its sessions, in one transaction."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(admin_sessions.delete().where(admin_sessions.c.account == email))
            return bool(conn.execute(accounts.delete().where(accounts.c.email == email)).rowcount)

    def account_totp_step(self, email: str, step: int) -> bool:
        """Accept TOTP time step `step` for the account once: True only if no step at or after it was accepted before
        (one conditional update, so two requests with the same code cannot both pass)."""
        with self._lock, self.engine.begin() as conn:
            done = conn.execute(accounts.update().where(
                accounts.c.email == email, sa.or_(accounts.c.totp_last.is_(None), accounts.c.totp_last < step))
                .values(totp_last=step))
            return bool(done.rowcount)

    def admin_session_account(self, sid_hash: str) -> str | None:
        with self.reader.connect() as conn:
            return conn.scalar(sa.select(admin_sessions.c.account).where(admin_sessions.c.id == sid_hash))

    def post_events(self, event_id: str, window_s: float = 5.0) -> list[dict]:
        """The events of the post `event_id` belongs to, oldest first: the findings one post raised are stored
        together, so they share person, device, school, destination and path, within `window_s` seconds. []: no such
        event."""
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(events).where(events.c.id == event_id)).mappings().first()
            if row is None:
                return []
            t = _aware(row["time"])
            same = [events.c[c] == row[c] if row[c] is not None else events.c[c].is_(None)
                    for c in ("user", "device", "host", "path", "school", "origin")]
            rows = conn.execute(sa.select(events).where(*same, events.c.time >= t - timedelta(seconds=window_s),
                                                        events.c.time <= t + timedelta(seconds=window_s))
                                .order_by(events.c.seq).limit(200)).mappings().all()
        return [_public(r) for r in rows]

    def triage_of(self, event_ids: list[str]) -> dict[str, dict]:
        """event id -> its triage row (status, assignee, post, updated); events never triaged are absent."""
        if not event_ids:
            return {}
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(triage).where(triage.c.event.in_(list(event_ids)))).mappings().all()
        return {r["event"]: dict(r) for r in rows}

    def triage_set(self, post: str, event_ids: list[str], status: str, assignee: str | None, actor: str,
                   note: str = "") -> None:
        """Give every event of the post this status and assignee, and add the change (with its note) to the post's
        history, in one transaction."""
        now = utcnow()
        with self._lock, self.engine.begin() as conn:
            conn.execute(triage.delete().where(triage.c.event.in_(list(event_ids))))
            conn.execute(triage.insert(), [{"event": e, "post": post, "status": status, "assignee": assignee,
                                            "updated": now} for e in event_ids])
            conn.execute(triage_history.insert().values(post=post, time=now, actor=actor, status=status,
                                                        assignee=assignee, note=note or None))

    def triage_history(self, post: str, limit: int = 500) -> list[dict]:
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(triage_history).where(triage_history.c.post == post)
                                .order_by(triage_history.c.seq).limit(limit)).mappings().all()
        return [dict(r) | {"time": _aware(r["time"])} for r in rows]

    def triage_list(self, flt: Filter | None = None, status: str | None = None, assignee: str | None = None,
                    limit: int = 50, cursor: str | None = None) -> Page:
        """Events with their triage status and assignee (status "new" for events never triaged), newest first and
        keyset-paged as list() is; only those with `status` and `assignee` when given."""
        flt = flt or Filter()
        cols = [*events.c, sa.func.coalesce(triage.c.status, "new").label("triage_status"),
                triage.c.assignee.label("triage_assignee"), triage.c.post.label("triage_post")]
        q = sa.select(*cols).select_from(events.outerjoin(triage, triage.c.event == events.c.id)) \
            .where(*flt.clauses())
        if status == "new":
            q = q.where(sa.or_(triage.c.status.is_(None), triage.c.status == "new"))
        elif status:
            q = q.where(triage.c.status == status)
        if assignee:
            q = q.where(triage.c.assignee == assignee)
        if cursor:
            t, seq = _decode_cursor(cursor)
            q = q.where(sa.or_(events.c.time < t, sa.and_(events.c.time == t, events.c.seq < seq)))
        q = q.order_by(events.c.time.desc(), events.c.seq.desc()).limit(limit + 1)
        with self.reader.connect() as conn:
            rows = [_public(r) for r in conn.execute(q).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, _encode_cursor(rows[-1]["_time"], rows[-1]["seq"]) if more and rows else None)

    def triage_forget_purged(self) -> int:
        """Delete the triage (status, assignee, notes, history) of every post whose events have all been purged:
        the notes are about a person, and go when the record of the post does. Returns the posts forgotten."""
        live = sa.func.sum(sa.case((events.c.purged.is_(False), 1), else_=0))
        gone = sa.select(triage.c.post).select_from(triage.join(events, events.c.id == triage.c.event)) \
            .group_by(triage.c.post).having(live == 0)
        with self._lock, self.engine.begin() as conn:
            posts = list(conn.scalars(gone))
            for i in range(0, len(posts), 500):
                chunk = posts[i:i + 500]
                conn.execute(triage_history.delete().where(triage_history.c.post.in_(chunk)))
                conn.execute(triage.delete().where(triage.c.post.in_(chunk)))
        return len(posts)


@dataclass
class ScopedFilter(Filter):
    """A Filter limited to some schools (a reviewer's grant on the trust server): None is every school."""

    schools: tuple[str, ...] | None = None

    def clauses(self):
        out = super().clauses()
        if self.schools is not None:
            out.append(events.c.school.in_(list(self.schools)))
        return out


def _account(row) -> dict:
    return dict(row) | {"grants": json.loads(row["grants"] or "[]")}


PURGE_RULE = "retention.purge"
WIRE_FIELDS = ("seq", "id", "time", "rule", "severity", "decision", "user", "email", "device", "host", "path",
               "source", "reason", "message", "clauses", "evidence", "purged", "digest", "prev_hash", "hash", "seal")


@dataclass
class Ingested:
    acked: int  # the highest contiguous sequence number the server holds for the device
    refused: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class DeviceCheck:
    id: str
    name: str
    school: str
    held: int
    problem: str  # "" when intact


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _device(row) -> dict:
    d = {k: row[k] for k in ("id", "school", "name", "public_key", "next_seq", "enrolled", "last_seen", "revoked")}
    d["health"] = json.loads(row["health"]) if row["health"] else {}
    d["held"] = row["next_seq"] - 1
    return d


def _wire(row) -> dict:
    d = dict(row)
    d["time"] = _aware(d["time"]).astimezone(timezone.utc).isoformat()
    d["clauses"] = json.loads(d["clauses"] or "[]")
    d["evidence"] = json.loads(d["evidence"] or "{}")
    d["purged"] = bool(d["purged"])
    for k in ("user", "device", "host", "path", "source", "reason", "message"):
        d[k] = d[k] or ""
    if not d.get("email"):
        d.pop("email", None)  # a server from before revision 0006 refuses a field it does not know
    return d


# A heartbeat's one statement, built once (building it for each of hundreds of uploads a second cost more CPU than
# running it): last_seen and health set, the row returned, the commit not waiting for the WAL flush.
HEARTBEAT = (devices.update().where(devices.c.id == sa.bindparam("device"), devices.c.revoked.is_(False))
             .values(last_seen=sa.bindparam("seen"), health=sa.bindparam("health"))
             .returning(*devices.c, sa.func.set_config("synchronous_commit", "off", True)))


def _rewound(dev, head: dict | None) -> tuple | None:
    """The problem when a device's head is behind what it had already sent (restored from an older copy)."""
    if head is not None and head["seq"] < dev["next_seq"] - 1:
        return ("rewound", "high", {"device_head": head["seq"], "held": dev["next_seq"] - 1},
                f"{dev['name']} says its record ends at event {head['seq']}, but it had sent {dev['next_seq'] - 1}: "
                "it was restored from an older copy or its newest events removed")
    return None


def _truncated(check: "_DeviceChain", dev, head: dict | None) -> tuple | None:
    """The problem when the device's head, sealed with its next key, shows that key moved past the newest event
    it sent: events after it were removed before they were sent."""
    if head is not None and head.get("seal") and head["seq"] == check.next_seq - 1 \
            and check.next_seq >= check.start and not sealing.equal(
                head["seal"], sealing.anchor_seal(check.key, head["seq"], head["hash"])):
        return ("truncated", "high", {"device_head": head["seq"]},
                f"{dev['name']}'s sealing key has moved past its newest event {head['seq']}: events after it were "
                "removed on the laptop before they were sent")
    return None


def _with_skew(health: dict, sent_at: datetime, received: datetime) -> dict:
    """The device's clock against the server's, shown rather than corrected: received minus sent, in seconds (a
    positive skew is also the time in transit)."""
    return {**health, "clock_skew_s": round((received - _aware(sent_at)).total_seconds(), 1)}


def _first_of_each(problems: list[tuple]) -> list[tuple]:
    """One integrity event for each kind of problem in a batch (a re-sealed record breaks every row after the
    edit), saying how many rows it concerned."""
    out: dict[str, tuple] = {}
    for kind, severity, evidence, text in problems:
        if kind in out:
            k, sev, ev, t = out[kind]
            out[kind] = (k, sev, {**ev, "rows": ev.get("rows", 1) + 1}, t)
        else:
            out[kind] = (kind, severity, evidence, text)
    return list(out.values())


class _DeviceChain:
    """A device's sealed chain as the server follows it: the next sequence number, the hash before it and the key
    that must seal it (rules/record/seal.py)."""

    def __init__(self, dev):
        self.next_seq, self.last = dev["next_seq"], dev["last_hash"]
        self.start = dev["start_seq"]
        self.key = bytes.fromhex(dev["next_key"])

    def skip_to(self, seq: int, prev_hash: str) -> None:
        if seq > self.start:
            self.key = sealing.evolve(self.key, seq - max(self.next_seq, self.start))
        self.next_seq, self.last = seq, prev_hash

    def step(self, w: dict) -> tuple[Event, str]:
        """The event a wire row carries, and what is wrong with it ("" when it continues the chain)."""
        seq = w["seq"]
        event = Event.stored(id=w["id"], time=_aware(w["time"] if isinstance(w["time"], datetime)
                                                     else datetime.fromisoformat(w["time"])),
                             rule=w["rule"], severity=w["severity"], decision=w["decision"],
                             user=w.get("user") or "", email=w.get("email") or "", device=w.get("device") or "",
                             host=w.get("host") or "",
                             path=w.get("path") or "", source=w.get("source") or "", reason=w.get("reason") or "",
                             message=w.get("message") or "", clauses=w.get("clauses") or [],
                             evidence=w.get("evidence") or {})
        problem = ""
        if w["prev_hash"] != self.last:
            problem = f"event {seq} does not follow event {seq - 1}: an event before it was changed or removed"
        elif not w.get("purged") and _digest(event.content()) != w["digest"]:
            problem = f"event {seq} was changed after it was written"
        elif _link(w["prev_hash"], w["digest"]) != w["hash"]:
            problem = f"event {seq}'s hash is wrong"
        elif seq >= self.start and not sealing.equal(
                sealing.seal(self.key, seq, w["hash"], _header(event)), w.get("seal") or ""):
            problem = f"event {seq}'s seal does not match the device's key: it was re-sealed or replaced on the laptop"
        if seq >= self.start:
            self.key = sealing.evolve(self.key)
        self.next_seq, self.last = seq + 1, w["hash"]
        return event, problem


def _audit_text(t: datetime, actor: str, action: str, detail: str) -> str:
    return f"{t.isoformat()}|{actor}|{action}|{detail}"


def _header(e: Event) -> str:
    """What purging keeps of an event, and its seal covers: so an emptied row's time and rule are still proven."""
    return f"{e.id}|{_aware(e.time).astimezone(timezone.utc).isoformat()}|{e.rule}|{e.source}"


def _row_header(row) -> str:
    return f"{row['id']}|{_aware(row['time']).astimezone(timezone.utc).isoformat()}|{row['rule']}|{row['source']}"


def _purge_allowed(row, purges: list[tuple[int, datetime, dict]]) -> bool:
    """A purge event after the row, whose stated retention for the row's rule had passed at the time of the purge."""
    if row["origin"] is not None:  # emptied on the laptop before it was forwarded: its device's chain covers it
        return True
    t = _aware(row["time"])
    for seq, when, ev in purges:
        if seq <= row["seq"]:
            continue
        when = _as_of(ev) or when
        per_rule = ev.get("per_rule_days") if isinstance(ev.get("per_rule_days"), dict) else {}
        days = per_rule.get(row["rule"], ev.get("default_days"))
        if isinstance(days, int) and not isinstance(days, bool) and when - timedelta(days=days) > t:
            return True
    return False


def _as_of(ev: dict) -> datetime | None:
    """The date a purge applied its retention as of (a purge event's own time, unless it says otherwise)."""
    try:
        return _aware(datetime.fromisoformat(ev["as_of"]))
    except (KeyError, TypeError, ValueError):
        return None


class _Walk:
    """One chain's rows in order: links, digests, contiguous sequence numbers and seals (rules/record/seal.py)."""

    def __init__(self, name: str, start: sealing.Start | None, conn, want_hashes: set[int]):
        self.name, self.start = name, start
        self.head = conn.execute(sa.select(chain.c.seq, chain.c.hash).where(chain.c.name == name)).first()
        self.state = conn.execute(sa.select(seal_state).where(seal_state.c.name == name)).first()
        self.checked, self.prev, self.prev_seq = 0, GENESIS, 0
        self.first_sealed: int | None = None
        self.key: bytes | None = None
        self.want, self.hashes = want_hashes, {}

    @property
    def sealed(self) -> bool:
        return self.start is not None and self.first_sealed is not None

    def step(self, row, header: str, digest: str | None) -> str:
        """The problem with this row, in words, or ""."""
        seq, what = row["seq"], ("event" if self.name == "events" else "audit entry")
        self.checked += 1
        if row["prev_hash"] != self.prev:
            return f"{what} {seq} does not follow {what} {self.prev_seq}: a row before it was deleted or changed"
        linked = digest
        if self.name == "events":  # events keep their content digest (purging empties the content, not the digest)
            if digest is not None and digest != row["digest"]:
                return f"{what} {seq} was changed after it was written"
            linked = row["digest"]
        if _link(self.prev, linked) != row["hash"]:
            return f"{what} {seq}'s hash is wrong: it was changed after it was written"
        if row["seal"] is None:
            if self.first_sealed is not None or (self.start and seq >= self.start.seq):
                return f"{what} {seq} has no seal, though sealing began at {self.first_sealed or self.start.seq}"
        else:
            if self.first_sealed is None:
                self.first_sealed = seq
                if self.start is not None:
                    if seq != self.start.seq:
                        return (f"{what} {seq} is the first sealed row, but the verification key's chain begins at "
                                f"{self.start.seq}: this is not the record the key was made for, or rows were "
                                "removed")
                    self.key = self.start.key
            elif seq != self.prev_seq + 1:
                return f"{what}s {self.prev_seq + 1} to {seq - 1} are missing"
            if self.key is not None:
                if not sealing.equal(sealing.seal(self.key, seq, row["hash"], header), row["seal"] or ""):
                    return (f"{what} {seq}'s seal does not match the verification key: it was re-sealed after it was "
                            "written, or the record was replaced")
                self.key = sealing.evolve(self.key)
        if seq in self.want:
            self.hashes[seq] = row["hash"]
        self.prev, self.prev_seq = row["hash"], seq
        return ""

    def finish(self) -> str:
        what = "events" if self.name == "events" else "audit entries"
        if self.head and (self.head.seq, self.head.hash) != (self.prev_seq, self.prev):
            return f"the newest {what} after {self.prev_seq} were deleted (the chain head says there were more)"
        if self.first_sealed is None:
            if self.start is not None and self.state is not None and self.state.next_seq >= self.start.seq and \
                    not sealing.equal(self.state.key, self.start.key_for(self.state.next_seq).hex()):
                return f"the {self.name} chain's sealing key does not follow from the verification key"
            return ""
        if self.state is None:
            return f"the {self.name} chain's sealing state is missing: it was deleted"
        if self.state.next_seq != self.prev_seq + 1:
            return (f"the {self.name} chain's sealing key is for row {self.state.next_seq}, but the newest row is "
                    f"{self.prev_seq}: rows were deleted")
        if self.key is not None and not sealing.equal(self.state.key, self.key.hex()):
            return (f"the {self.name} chain's current sealing key does not follow from the verification key: the "
                    "store was replaced, or its newest rows removed")
        return ""

    def notes(self) -> list[str]:
        out = []
        if self.first_sealed is None and self.checked:
            out.append(f"{self.checked} rows were stored before sealing began: hash chain only")
        elif self.first_sealed and self.first_sealed > 1:
            out.append(f"rows 1 to {self.first_sealed - 1} were stored before sealing began: hash chain only")
        if self.first_sealed is not None and self.key is None:
            out.append("seals not checked: no verification key given (the chain of hashes alone can be recomputed "
                       "by whoever can write the database)")
        return out


def _anchor_problem(found: list, bad_lines: list[int], walk: _Walk, path) -> str:
    if bad_lines:
        return f"{path}: line {bad_lines[0]} is not an anchor: the anchor file was edited"
    for a in found:
        if a.seq > walk.prev_seq:
            return (f"{path} line {a.line}: the record once reached event {a.seq}, but the database ends at "
                    f"{walk.prev_seq}: it was rewound (restored from an older copy) or its newest rows removed")
        if walk.hashes.get(a.seq) != a.hash:
            return f"{path} line {a.line}: event {a.seq} is not the one anchored there: it was changed"
        if walk.start is not None and a.seq >= walk.start.seq - 1 and not sealing.equal(
                a.seal, sealing.anchor_seal(walk.start.key_for(a.seq + 1), a.seq, a.hash)):
            return f"{path} line {a.line}: the anchor's seal does not match the verification key: it was forged"
    return ""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" listener issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # a committed transaction survives the process being killed
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _day(t: datetime) -> str:
    """The UTC day an event counts under in the overview's rollup (as _day_sql says in SQL)."""
    return _aware(t).astimezone(timezone.utc).date().isoformat()


def _event(row) -> Event:
    return Event.stored(id=row["id"], time=_aware(row["time"]).astimezone(timezone.utc), rule=row["rule"],
                        severity=row["severity"], decision=row["decision"], user=row["user"] or "",
                        email=row.get("email") or "", device=row["device"] or "", host=row["host"] or "", path=row["path"] or "",
                        source=row["source"] or "", reason=row["reason"] or "", message=row["message"] or "",
                        clauses=json.loads(row["clauses"] or "[]"), evidence=json.loads(row["evidence"] or "{}"))


def _public(row) -> dict:
    d = dict(row)
    d["_time"] = _aware(d["time"])
    d["time"] = d["_time"].isoformat(timespec="seconds").replace("+00:00", "Z")
    d["clauses"] = json.loads(d["clauses"] or "[]")
    d["evidence"] = json.loads(d["evidence"] or "{}")
    return d


def _encode_cursor(t: datetime, seq: int) -> str:
    return f"{_aware(t).isoformat()}|{seq}"


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        t, seq = cursor.rsplit("|", 1)
        return datetime.fromisoformat(t), int(seq)
    except ValueError:
        raise ValueError(f"bad page cursor {cursor!r}") from None
