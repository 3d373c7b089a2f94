"""A store taken back to an older schema revision, as that revision left it, so a test can migrate it forward."""
import sqlalchemy as sa

# What each revision added, undone newest first.
UNDO = {
    "0006": ["DROP INDEX ix_events_email_time", "ALTER TABLE events DROP COLUMN email"],
    "0005": ["DROP TABLE host_days", "DROP TABLE event_days"],
    "0004": ["DROP TABLE triage_history", "DROP TABLE triage", "DROP TABLE accounts"],
}


def rewind(conn, to: str) -> None:
    """Undo every revision after `to` (on SQLite and PostgreSQL) and stamp the store with `to`."""
    for revision in sorted(UNDO, reverse=True):
        if revision > to:
            for statement in UNDO[revision]:
                conn.execute(sa.text(statement))
    conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": to})
