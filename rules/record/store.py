"""The monitoring log: the only module that writes SQL. SQLite (WAL) by default, PostgreSQL by URL.

Tamper evidence: every event row carries `digest` = SHA-256 of its canonical content and `hash` = SHA-256 of the
previous row's hash and its own digest. `verify()` recomputes both and reports the first break; the chain head
(last sequence number and hash) is kept in its own row, so deleting the newest events shows too. Retention purges
an event's content (every personal field) but keeps its digest and hash, so the chain still verifies afterwards and
the purge itself is logged as an event.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .events import Event, utcnow

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
)
for col in ("time", "user", "device", "rule", "severity", "decision", "host"):
    sa.Index(f"ix_events_{col}_time" if col != "time" else "ix_events_time",
             *([events.c[col]] if col == "time" else [events.c[col], events.c.time]), events.c.seq)
sa.Index("ix_events_user_rule_time", events.c.user, events.c.rule, events.c.time, events.c.seq)  # a person's rule
# Everything the overview counts, so its three queries never read the table itself.
OVERVIEW_INDEX = sa.Index("ix_events_overview", events.c.time, events.c.purged, events.c.rule, events.c.decision,
                          events.c.host)

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

FILTERS = ("user", "device", "rule", "severity", "decision", "host")


@dataclass
class Filter:
    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    device: str | None = None
    rule: str | None = None
    severity: str | None = None
    decision: str | None = None
    host: str | None = None

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


class Store:
    def __init__(self, url: str):
        self.url = url
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
        metadata.create_all(self.engine)
        for index in events.indexes:  # create_all adds no index to a table an older version made
            index.create(self.engine, checkfirst=True)
        if not is_sqlite:  # a table an older version made kept messages to 400 characters (SQLite never enforced it)
            with self.engine.begin() as conn:
                if any(c["name"] == "message" and isinstance(c["type"], sa.String) and c["type"].length
                       for c in sa.inspect(conn).get_columns("events")):
                    conn.execute(sa.text("ALTER TABLE events ALTER COLUMN message TYPE text"))
        if is_sqlite and path and path != ":memory:":
            _private_files(Path(path))

    def close(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    # -- writing -------------------------------------------------------------------------------------------------

    def append(self, items: Event | list[Event]) -> list[str]:
        """Store events; returns their ids once committed. Idempotent: an id already stored is not stored again."""
        batch = [items] if isinstance(items, Event) else list(items)
        if not batch:
            return []
        with self._lock, self.engine.begin() as conn:
            head_seq, head = self._head(conn, "events")
            ids = [e.id for e in batch]
            existing = set(conn.scalars(sa.select(events.c.id).where(events.c.id.in_(ids))))
            rows, seen = [], set()
            for e in batch:
                if e.id in existing or e.id in seen:
                    continue
                seen.add(e.id)
                digest = _digest(e.content())
                h = _link(head, digest)
                rows.append(self._row(e, digest, head, h))
                head = h
            if rows:
                conn.execute(events.insert(), rows)
                last = conn.scalar(sa.select(sa.func.max(events.c.seq)))
                self._set_head(conn, "events", last, head)
        stored = [e for e in batch if e.id in seen]
        for listener in self.listeners if stored else ():
            listener(stored)
        return ids

    @staticmethod
    def _row(e: Event, digest: str, prev: str, h: str) -> dict:
        return {"id": e.id, "time": e.time, "rule": e.rule, "severity": e.severity, "decision": e.decision,
                "user": e.user, "device": e.device, "host": e.host, "path": e.path, "source": e.source,
                "reason": e.reason, "message": e.message, "clauses": json.dumps(e.clauses, ensure_ascii=False),
                "evidence": json.dumps(e.evidence, ensure_ascii=False), "purged": False, "digest": digest,
                "prev_hash": prev, "hash": h}

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

    def audit(self, actor: str, action: str, detail: dict | None = None) -> None:
        """Record an admin's view or export. Append-only: nothing in the service edits or deletes it."""
        with self._lock, self.engine.begin() as conn:
            _, head = self._head(conn, "audit")
            now = utcnow()
            text = json.dumps(detail or {}, sort_keys=True, ensure_ascii=False)
            h = _link(head, _digest(f"{now.isoformat()}|{actor}|{action}|{text}".encode()))
            conn.execute(audit.insert().values(time=now, actor=actor, action=action, detail=text, prev_hash=head,
                                               hash=h))
            last = conn.scalar(sa.select(sa.func.max(audit.c.seq)))
            self._set_head(conn, "audit", last, h)

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

    def stats(self, since: datetime, flt: Filter | None = None) -> dict:
        """Counts for the overview: events per day by rule, by decision, and the top destinations."""
        flt = flt or Filter()
        where = [events.c.time >= since, events.c.purged.is_(False), *flt.clauses()]
        day = sa.func.date(events.c.time) if self.sqlite else sa.func.to_char(events.c.time, "YYYY-MM-DD")
        with self.reader.connect() as conn:
            per_day = conn.execute(sa.select(day.label("day"), events.c.rule, sa.func.count().label("n"))
                                   .where(*where).group_by("day", events.c.rule).order_by("day")).all()
            # SQLite's planner would rather scan a whole (decision|host, time) index to skip a sort; the time range
            # is the selective part, so steer it to the covering overview index.
            hint = f"INDEXED BY {OVERVIEW_INDEX.name}"
            decisions = conn.execute(sa.select(events.c.decision, sa.func.count().label("n")).where(*where)
                                     .with_hint(events, hint, "sqlite")
                                     .group_by(events.c.decision).order_by(sa.desc("n"))).all()
            hosts = conn.execute(sa.select(events.c.host, sa.func.count().label("n"))
                                 .where(*where, events.c.host != "").with_hint(events, hint, "sqlite")
                                 .group_by(events.c.host).order_by(sa.desc("n")).limit(10)).all()
        return {"per_day": [(str(d), r, n) for d, r, n in per_day], "decisions": [tuple(r) for r in decisions],
                "hosts": [tuple(r) for r in hosts]}

    def audit_entries(self, limit: int = 100) -> list[dict]:
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(audit).order_by(audit.c.seq.desc()).limit(limit)).mappings().all()
        return [dict(r) | {"detail": json.loads(r["detail"] or "{}")} for r in rows]

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
        """Empty the content of events past their retention period, keeping digest and hash; log the purge."""
        now = now or utcnow()
        total = 0
        with self._lock, self.engine.begin() as conn:
            rules = retention.per_rule
            conds = [sa.and_(events.c.rule == rule, events.c.time < now - timedelta(days=days))
                     for rule, days in rules.items()]
            default = sa.and_(events.c.rule.notin_(list(rules)) if rules else sa.true(),
                              events.c.time < now - timedelta(days=retention.default_days))
            result = conn.execute(events.update().where(events.c.purged.is_(False), sa.or_(default, *conds))
                                  .values(purged=True, user=None, device=None, host=None, path=None, reason=None,
                                          message=None, evidence=None, clauses=None))
            total = result.rowcount or 0
        if total:
            self.append(Event(rule="retention.purge", decision="purged", severity="info", source="service",
                              evidence={"events": total, "default_days": retention.default_days,
                                        "per_rule_days": retention.per_rule}))
        return total

    def verify(self) -> VerifyResult:
        """Walk the chain in order; the first row whose digest or link does not hold is reported."""
        checked, prev, prev_seq = 0, GENESIS, 0
        with self.reader.connect() as conn:
            head = conn.execute(sa.select(chain.c.seq, chain.c.hash).where(chain.c.name == "events")).first()
            result = conn.execution_options(yield_per=2000).execute(sa.select(events).order_by(events.c.seq))
            for row in result.mappings():
                checked += 1
                if row["prev_hash"] != prev:
                    return VerifyResult(False, checked, row["seq"], f"event {row['seq']} does not follow event "
                                        f"{prev_seq}: a row before it was deleted or changed")
                if not row["purged"] and _digest(_event(row).content()) != row["digest"]:
                    return VerifyResult(False, checked, row["seq"], f"event {row['seq']} was changed after it "
                                        "was written")
                if _link(prev, row["digest"]) != row["hash"]:
                    return VerifyResult(False, checked, row["seq"], f"event {row['seq']}'s hash is wrong")
                prev, prev_seq = row["hash"], row["seq"]
            if head and (head.seq, head.hash) != (prev_seq, prev):
                return VerifyResult(False, checked, prev_seq + 1, f"the newest events after {prev_seq} were "
                                    "deleted (the chain head says there were more)")
            audit_ok, audit_reason = self._verify_audit(conn)
        return VerifyResult(True, checked, audit_ok=audit_ok, audit_reason=audit_reason)

    def _verify_audit(self, conn) -> tuple[bool, str]:
        prev = GENESIS
        for row in conn.execute(sa.select(audit).order_by(audit.c.seq)).mappings():
            text = f"{_aware(row['time']).isoformat()}|{row['actor']}|{row['action']}|{row['detail']}"
            if row["prev_hash"] != prev or _link(prev, _digest(text.encode())) != row["hash"]:
                return False, f"audit entry {row['seq']} was changed or one before it deleted"
            prev = row["hash"]
        head = conn.execute(sa.select(chain.c.hash).where(chain.c.name == "audit")).scalar()
        if head is not None and head != prev:
            return False, "the newest audit entries were deleted"
        return True, ""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" listener issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # a committed transaction survives the process being killed
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _event(row) -> Event:
    return Event.stored(id=row["id"], time=_aware(row["time"]).astimezone(timezone.utc), rule=row["rule"],
                        severity=row["severity"], decision=row["decision"], user=row["user"] or "",
                        device=row["device"] or "", host=row["host"] or "", path=row["path"] or "",
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
