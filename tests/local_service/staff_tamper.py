"""What a process running as the staff account does to the record it can write: add events as the service would,
then rewrite them with everything the project offers, recomputing what it can. Run by test_seal_accounts.py as a
real second account (and imported by test_seal.py for `reseal_from`).

    python staff_tamper.py CONFIG MODE    MODE: append | edit | edit-unsent | truncate | replace | read-key
"""
from __future__ import annotations

import sys

import sqlalchemy as sa

from rules.record import seal as sealing
from rules.record.events import Event
from rules.record.store import _digest, _event, _link, _row_header, events


def reseal_from(store, first_seq: int) -> None:
    """Recompute every digest, link and head after an edit, and seal each row from `first_seq` with the only key
    the holder of the database has, the current one, moving it forward as the store does; renumber the rows."""
    with store.engine.begin() as conn:
        rows = conn.execute(sa.select(events).order_by(events.c.seq)).mappings().all()
        state = conn.execute(sa.text("SELECT * FROM seal_state WHERE name = 'events'")).mappings().first()
        key, prev = bytes.fromhex(state["key"]), "0" * 64
        for i, row in enumerate(rows, 1):
            digest = _digest(_event(row).content())
            h = _link(prev, digest)
            s = row["seal"]
            if row["seq"] >= first_seq:
                s = sealing.seal(key, i, h, _row_header(row))
                key = sealing.evolve(key)
            conn.execute(events.update().where(events.c.id == row["id"])
                         .values(seq=-i, digest=digest, prev_hash=prev, hash=h, seal=s))
            prev = h
        conn.execute(sa.text("UPDATE events SET seq = -seq"))
        conn.execute(sa.text("UPDATE chain_head SET seq = :n, hash = :h WHERE name = 'events'"),
                     {"n": len(rows), "h": prev})
        conn.execute(sa.text("UPDATE seal_state SET next_seq = :n, key = :k WHERE name = 'events'"),
                     {"n": len(rows) + 1, "k": key.hex()})


def main(config_path: str, mode: str) -> int:
    from rules.config import load_config
    from rules.record.store import open_store, verify_key_path

    config = load_config(config_path)
    if mode == "read-key":
        try:
            verify_key_path(config).read_text()
        except PermissionError:
            print("denied")
            return 0
        print("read")
        return 0
    if mode == "replace":  # start the record again from nothing: a new database, a new first key
        for f in config.data_dir.glob("events.sqlite3*"):
            f.unlink()
        (config.data_dir / "anchors").unlink(missing_ok=True)
    store = open_store(config)
    try:
        if mode in ("append", "replace"):
            store.append([Event(rule="location.gps", decision="warned", user="staff", device="laptop",
                                evidence={"lat": 53.38, "lon": -1.46}) for _ in range(6)])
        elif mode == "edit":  # make event 2 someone else's, and remove event 4
            with store.engine.begin() as conn:
                conn.execute(events.update().where(events.c.seq == 2).values(user="someone else"))
                conn.execute(events.delete().where(events.c.seq == 4))
            reseal_from(store, 2)
            (config.data_dir / "anchors").unlink(missing_ok=True)
        elif mode == "edit-unsent":  # the newest events, not forwarded yet: change one, remove another
            with store.engine.begin() as conn:
                last = conn.scalar(sa.select(sa.func.max(events.c.seq)))
                conn.execute(events.update().where(events.c.seq == last - 5).values(user="someone else"))
                conn.execute(events.delete().where(events.c.seq == last - 3))
            reseal_from(store, last - 5)
            (config.data_dir / "anchors").unlink(missing_ok=True)
        elif mode == "truncate":  # remove the newest two events, head and sealing state moved back to match
            with store.engine.begin() as conn:
                last = conn.scalar(sa.select(sa.func.max(events.c.seq)))
                conn.execute(events.delete().where(events.c.seq > last - 2))
            reseal_from(store, last - 1)
            (config.data_dir / "anchors").unlink(missing_ok=True)
    finally:
        store._unanchored = False  # write no anchor for the tampered record either
        store.close()
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
