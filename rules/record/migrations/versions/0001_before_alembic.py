"""The record as PostGuard made it before migrations: events, chain_head, audit, settings, admin_sessions.

Revision ID: 0001
Revises:
A store made by that code has these tables and no alembic_version; the store stamps it with this revision and
upgrades from here. Nothing to do for a store that reaches this revision.
"""
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
