"""Reviewers (issue 16): named accounts with roles, and triage of each post's events with its history.

Revision ID: 0004
Revises: 0003
An install from before keeps its one dashboard password: the argon2 hash in the settings becomes the account
"admin" with the roles trust_admin and dpo (what that login could do), and the setting is removed.
"""
import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ADMIN_GRANTS = [{"role": "trust_admin", "schools": ["*"]}, {"role": "dpo", "schools": ["*"]}]


def upgrade() -> None:
    accounts = op.create_table(
        "accounts",
        sa.Column("email", sa.String(254), primary_key=True),
        sa.Column("grants", sa.Text, nullable=False),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("totp_secret", sa.String(64)),
        sa.Column("totp_last", sa.BigInteger),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "triage",
        sa.Column("event", sa.String(36), primary_key=True),
        sa.Column("post", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(254)),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_triage_post", "triage", ["post"])
    op.create_index("ix_triage_status", "triage", ["status"])
    op.create_index("ix_triage_assignee", "triage", ["assignee"])
    op.create_table(
        "triage_history",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("post", sa.String(36), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(254)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_triage_history_post", "triage_history", ["post", "seq"])
    conn = op.get_bind()
    settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))
    old = conn.scalar(sa.select(settings.c.value).where(settings.c.key == "admin_password_hash"))
    stored = json.loads(old) if old else None
    if isinstance(stored, str) and stored:
        conn.execute(accounts.insert().values(email="admin", grants=json.dumps(ADMIN_GRANTS), password_hash=stored,
                                              created=datetime.now(timezone.utc)))
    conn.execute(settings.delete().where(settings.c.key == "admin_password_hash"))
