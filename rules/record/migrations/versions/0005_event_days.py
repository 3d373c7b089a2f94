"""The overview's daily rollups: events of a UTC day by school, rule and decision, and by school and destination.

Revision ID: 0005
Revises: 0004
The store adds to it as it stores events and takes from it as it purges them (rules/record/store.py); this revision
fills it from the events already held, and drops the index the overview used to count the events with.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# The rollups counted from the events held (bench/fleet_bench.py fills them the same way after its bulk insert).
FILL = ("INSERT INTO event_days (day, school, rule, decision, n) SELECT {day}, coalesce(school, ''), rule, decision, "
        "count(*) FROM events WHERE NOT purged GROUP BY 1, 2, 3, 4",
        "INSERT INTO host_days (day, school, host, n) SELECT {day}, coalesce(school, ''), coalesce(host, ''), "
        "count(*) FROM events WHERE NOT purged GROUP BY 1, 2, 3")


def upgrade() -> None:
    op.create_table(
        "event_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("school", sa.String(120), primary_key=True),
        sa.Column("rule", sa.String(80), primary_key=True),
        sa.Column("decision", sa.String(20), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "host_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("school", sa.String(120), primary_key=True),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    conn = op.get_bind()
    for statement in FILL:
        conn.execute(sa.text(statement.format(day="date(time)" if conn.dialect.name == "sqlite"
                                              else "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')")))
    op.drop_index("ix_events_overview", table_name="events", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_events_overview", "events", ["time", "purged", "rule", "decision", "host"])
    op.drop_table("host_days")
    op.drop_table("event_days")
