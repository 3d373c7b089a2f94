"""Forward-secure seals (rules/record/seal.py): a seal on every event and audit row, and each chain's sealing state.

Revision ID: 0002
Revises: 0001
Also brings a store from before migrations up to date: the indexes its version lacked, and on PostgreSQL the
message column as text (older tables cut it at 400 characters). Rows stored before this revision keep no seal;
`postguard log verify` says where sealing began.
"""
import sqlalchemy as sa
from alembic import op

from rules.record.store import events  # today's index definitions, created where missing

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    columns = {c["name"] for c in sa.inspect(conn).get_columns("events")}
    for index in events.indexes:  # those a later revision adds need columns this one does not have yet
        if {c.name for c in index.columns} <= columns:
            index.create(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":
        op.alter_column("events", "message", type_=sa.Text)
    op.add_column("events", sa.Column("seal", sa.String(64)))
    op.add_column("audit", sa.Column("seal", sa.String(64)))
    op.create_table(
        "seal_state",
        sa.Column("name", sa.String(20), primary_key=True),
        sa.Column("start_seq", sa.BigInteger, nullable=False),
        sa.Column("next_seq", sa.BigInteger, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
    )
