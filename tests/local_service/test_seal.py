"""The record sealed forward (rules/record/seal.py): what a holder of the laptop can and cannot rewrite, checked by
`Store.verify` with the verification key, on SQLite and PostgreSQL; migration of a store from before seals."""
import json
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from rules.record import seal as sealing
from rules.record.events import Event, utcnow
from rules.record.store import SCHEMA_REVISION, Retention, Store, _digest, _link, events

from .staff_tamper import reseal_from

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def keyed(tmp_path, store_url):
    s = Store(store_url, verify_key=tmp_path / "keys" / "verify_key", anchors=tmp_path / "anchors")
    yield s
    s.close()


def fill(store, n, start=0):
    store.append([Event(rule="location.gps", decision="warned", user=f"u{start + i}", device="laptop-1",
                        evidence={"lat": 53.38, "lon": -1.46}) for i in range(n)])


def keys_of(store):
    return sealing.read_verify_key(store.verify_key_path)


def test_an_untouched_record_verifies_with_its_key(keyed):
    fill(keyed, 30)
    keyed.audit("admin", "view_events", {"user": "u1"})
    result = keyed.verify(keys_of(keyed))
    assert result.ok and result.audit_ok and result.sealed and result.checked == 30
    assert json.loads(keyed.verify_key_path.read_text())["chains"]["events"]["start"] == 1
    if keyed.sqlite:
        assert oct(keyed.verify_key_path.stat().st_mode & 0o777) == "0o600"


def test_an_edit_resealed_with_the_current_key_is_caught(keyed, tmp_path):
    fill(keyed, 20)
    with keyed.engine.begin() as conn:
        conn.execute(events.update().where(events.c.seq == 5).values(user="someone else"))
    reseal_from(keyed, 5)
    assert "anchored" in keyed.verify().reason  # the anchor written outside the database shows it, and ...
    assert keyed.verify(anchors=tmp_path / "no anchors").ok  # (the hash chain alone is recomputed: nothing shows)
    result = keyed.verify(keys_of(keyed))
    assert not result.ok and result.first_break == 5 and "seal" in result.reason  # ... with it, the first edit does


def test_deleting_a_row_and_renumbering_is_caught(keyed):
    fill(keyed, 20)
    with keyed.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE seq = 7"))
    reseal_from(keyed, 7)
    result = keyed.verify(keys_of(keyed))
    assert not result.ok and result.first_break == 7


def test_removing_the_newest_rows_and_rolling_the_state_back_is_caught(keyed):
    fill(keyed, 20)
    with keyed.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE seq > 17"))
        h = conn.scalar(sa.text("SELECT hash FROM events WHERE seq = 17"))
        conn.execute(sa.text("UPDATE chain_head SET seq = 17, hash = :h WHERE name = 'events'"), {"h": h})
        conn.execute(sa.text("UPDATE seal_state SET next_seq = 18 WHERE name = 'events'"))  # its key is newer
    result = keyed.verify(keys_of(keyed))
    assert not result.ok and "does not follow from the verification key" in result.reason
    with keyed.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM seal_state"))
    assert "sealing state is missing" in keyed.verify(keys_of(keyed)).reason


def test_emptying_a_recent_row_is_caught_but_a_due_purge_verifies(keyed):
    fill(keyed, 10)
    with keyed.engine.begin() as conn:
        conn.execute(events.update().where(events.c.seq == 4).values(purged=True, user=None, evidence=None))
    result = keyed.verify(keys_of(keyed))
    assert not result.ok and result.first_break == 4 and "retention" in result.reason


def test_a_due_purge_keeps_every_row_verifiable(keyed):
    old = utcnow() - timedelta(days=100)
    keyed.append([Event(rule="location.gps", decision="warned", user="amy", time=old + timedelta(minutes=i))
                  for i in range(5)])
    fill(keyed, 5, start=5)
    assert keyed.purge(Retention(90)) == 5
    assert keyed.purge(Retention(90)) == 0  # the purge event itself is never emptied
    result = keyed.verify(keys_of(keyed), retention=Retention(90))
    assert result.ok, result.reason
    assert keyed.verify(keys_of(keyed), retention=Retention(120)).notes  # a shorter retention than today's shows
    with keyed.engine.begin() as conn:  # an emptied row's time is still sealed
        conn.execute(sa.text("UPDATE events SET time = :t WHERE seq = 2"), {"t": old - timedelta(days=30)})
    assert not keyed.verify(keys_of(keyed)).ok


def test_a_replaced_store_does_not_verify_against_the_key(tmp_path):
    key = tmp_path / "verify_key"
    s = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}", verify_key=key)
    fill(s, 5)
    s.close()
    (tmp_path / "a.sqlite3").unlink()
    s = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}", verify_key=key)  # the key file is not overwritten
    fill(s, 5)
    result = s.verify(sealing.read_verify_key(key))
    s.close()
    assert not result.ok and "seal" in result.reason


def test_a_store_restored_from_an_older_copy_is_caught_by_its_anchors(tmp_path):
    db, anchors, key = tmp_path / "e.sqlite3", tmp_path / "anchors", tmp_path / "verify_key"
    s = Store(f"sqlite:///{db}", verify_key=key, anchors=anchors)
    fill(s, 5)
    s.close()
    backup = tmp_path / "backup"
    backup.mkdir()
    for f in tmp_path.glob("e.sqlite3*"):
        shutil.copy(f, backup / f.name)
    s = Store(f"sqlite:///{db}", verify_key=key, anchors=anchors)
    fill(s, 5, start=5)
    s.close()
    assert Store(f"sqlite:///{db}", anchors=anchors).verify(sealing.read_verify_key(key)).ok
    for f in tmp_path.glob("e.sqlite3*"):
        f.unlink()
    for f in backup.iterdir():
        shutil.copy(f, tmp_path / f.name)
    restored = Store(f"sqlite:///{db}", verify_key=key, anchors=anchors)
    result = restored.verify(sealing.read_verify_key(key))
    restored.close()
    assert not result.ok and "rewound" in result.reason
    # a forged anchor line is caught too
    anchors.write_text(anchors.read_text() + f"3 {'a' * 64} {'b' * 64}\n")
    assert not Store(f"sqlite:///{db}").verify(sealing.read_verify_key(key), anchors=anchors).ok


def test_a_store_from_before_seals_is_migrated_and_still_verifies(tmp_path):
    """The schema and chain exactly as the previous version wrote them (no seal, no alembic_version)."""
    db = tmp_path / "old.sqlite3"
    con = sqlite3.connect(db)
    con.executescript(Path(__file__).with_name("old_store_schema.sql").read_text())
    prev = "0" * 64
    for i in range(1, 4):
        e = Event(rule="location.gps", decision="warned", user=f"u{i}")
        d = _digest(e.content())
        h = _link(prev, d)
        con.execute("INSERT INTO events (seq, id, time, rule, severity, decision, user, device, host, path, source, "
                    "reason, message, clauses, evidence, purged, digest, prev_hash, hash) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, '', '', '', '', '', '', '[]', '{}', 0, ?, ?, ?)",
                    (i, e.id, e.time.strftime("%Y-%m-%d %H:%M:%S.%f"), e.rule, e.severity, e.decision, e.user, d,
                     prev, h))
        prev = h
    con.execute("INSERT INTO chain_head VALUES ('events', 3, ?)", (prev,))
    con.commit()
    con.close()
    s = Store(f"sqlite:///{db}", verify_key=tmp_path / "verify_key")
    fill(s, 2)
    result = s.verify(sealing.read_verify_key(tmp_path / "verify_key"))
    version = sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchone()[0]
    s.close()
    assert result.ok, result.reason
    assert result.sealed and any("rows 1 to 3 were stored before sealing began" in n for n in result.notes)
    assert version == SCHEMA_REVISION


def test_the_schema_revision_is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__import__("rules.record.store").record.store.__file__)
                                               .with_name("migrations")))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_REVISION
