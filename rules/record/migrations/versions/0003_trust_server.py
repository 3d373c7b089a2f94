"""The trust server: schools and their enrolment secrets, enrolled devices, and on each event where it came from.

Revision ID: 0003
Revises: 0002
On a laptop these stay empty. On the server an event forwarded by a laptop keeps the laptop's own chain fields
(origin_seq, origin_prev, origin_hash, origin_seal) beside the server's, so each device's chain can be checked
where its staff cannot reach it.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in (sa.Column("school", sa.String(120)), sa.Column("origin", sa.String(36)),
                   sa.Column("origin_seq", sa.BigInteger), sa.Column("origin_prev", sa.String(64)),
                   sa.Column("origin_hash", sa.String(64)), sa.Column("origin_seal", sa.String(64)),
                   sa.Column("verified", sa.Boolean), sa.Column("sent_at", sa.DateTime(timezone=True)),
                   sa.Column("received_at", sa.DateTime(timezone=True))):
        op.add_column("events", column)
    op.create_index("ix_events_origin_seq", "events", ["origin", "origin_seq"], unique=True)
    op.create_index("ix_events_school_time", "events", ["school", "time", "seq"])
    op.create_table(
        "schools",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("school", sa.String(120), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("start_seq", sa.BigInteger, nullable=False),
        sa.Column("start_key", sa.String(64), nullable=False),
        sa.Column("next_seq", sa.BigInteger, nullable=False),
        sa.Column("next_key", sa.String(64), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("enrolled", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True)),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("health", sa.Text),
    )
