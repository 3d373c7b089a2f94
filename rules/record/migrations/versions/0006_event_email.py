"""The person's school e-mail on each event, where the extension knew it (issue 15, attribution).

Revision ID: 0006
Revises: 0005
An event without one keeps the content, and so the digest, it had: the field is left out of an event's canonical
content when it is empty (rules/record/events.py).
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("email", sa.String(254)))
    op.create_index("ix_events_email_time", "events", ["email", "time", "seq"])


def downgrade() -> None:
    op.drop_index("ix_events_email_time", table_name="events")
    op.drop_column("events", "email")
