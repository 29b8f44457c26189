"""Alembic environment: runs on the connection `supplychain.admin.run_migrations` hands over (as the owner).

Each server's migrations form their own branch (`branch_labels = ("inventory",)` and so on), so the
schemas evolve independently; `alembic upgrade heads` brings all of them up.
"""

from alembic import context

from migrations import META_SCHEMA

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table_schema=META_SCHEMA, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
