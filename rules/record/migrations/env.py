"""Alembic's entry point for the record's schema. The store runs it on a connection it has already opened and locked
(rules/record/store.py, Store._migrate), so there is no URL or engine here."""
from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
