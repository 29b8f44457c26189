"""Alembic environment of the legacy chain: the same as migrations/env.py (version table in META_SCHEMA)."""

from alembic import context

from migrations import META_SCHEMA

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table_schema=META_SCHEMA, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
