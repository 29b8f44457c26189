"""Every migration after the audit trail's can be undone: down to it and up again gives the same schema.

The audit table's own migration (its registry entry's `audit_revision`: `<server>_0100` for the four)
refuses to be undone by design: the audit trail is never dropped by a migration. Every later one
(approvals, idempotency keys, the audit append functions) must go down cleanly, leaving exactly the
schema its predecessor made.

Runs in a database of its own, created for the test in the session's cluster (roles are cluster-wide
and already made by `db init`), so the session's schemas are never touched. The schema is compared
through the catalog: tables and columns, indexes, constraints, row-level security policies,
triggers, functions (with their settings) and every grant.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from deployment.registry import REGISTRY, SERVERS
from migrations import META_SCHEMA
from supplychain.admin import OWNER_ROLE, alembic_config, run_migrations
from tests.helpers import fresh_database
from tests.schema_catalog import read_snapshot, schema_catalog, write_snapshot

SCHEMAS = (*SERVERS,)
CATALOG = {
    "columns": "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default "
    "FROM information_schema.columns WHERE table_schema = ANY(:s)",
    "indexes": "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname = ANY(:s)",
    "constraints": "SELECT n.nspname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
    "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = ANY(:s)",
    "policies": "SELECT schemaname, tablename, policyname, qual, with_check FROM pg_policies "
    "WHERE schemaname = ANY(:s)",
    "row security": "SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(:s) AND c.relkind = 'r'",
    "triggers": "SELECT event_object_schema, trigger_name, event_manipulation, action_statement "
    "FROM information_schema.triggers WHERE trigger_schema = ANY(:s)",
    "functions": "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prosecdef, "
    "p.proconfig::text, p.proacl::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = ANY(:s)",
    "table grants": "SELECT table_schema, table_name, grantee, privilege_type "
    "FROM information_schema.role_table_grants WHERE table_schema = ANY(:s)",
    "column grants": "SELECT table_schema, table_name, column_name, grantee, privilege_type "
    "FROM information_schema.column_privileges WHERE table_schema = ANY(:s)",
    "schema grants": "SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname = ANY(:s)",
}


@pytest.fixture
async def own_database(admin_url: str, server_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    """A new, empty database with the schemas `db init` makes, owned as `db init` owns them."""
    async with fresh_database(admin_url, "migrations", (*SCHEMAS, META_SCHEMA)) as engine:
        yield engine


async def _catalog(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return {
            name: sorted(tuple(row) for row in await conn.execute(text(sql), {"s": list(SCHEMAS)}))
            for name, sql in CATALOG.items()
        }


async def _migrate(engine: AsyncEngine, direction: str, target: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(command, direction)(config, target)

    async with engine.connect() as conn:
        await conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
        await conn.run_sync(run)
        await conn.execute(text("RESET ROLE"))


async def test_every_migration_after_the_audit_trail_goes_down_and_up_to_the_same_schema(
    own_database: AsyncEngine,
) -> None:
    for server in SERVERS:
        await _migrate(own_database, "upgrade", REGISTRY[server].audit_revision)
    with_audit_only = await _catalog(own_database)
    await run_migrations(own_database)  # heads, as `db init` does
    at_heads = await _catalog(own_database)
    assert at_heads != with_audit_only
    functions = {(schema, name) for schema, name, *_ in at_heads["functions"]}
    assert {(server, "audit_append") for server in SERVERS} <= functions
    for server in SERVERS:
        await _migrate(own_database, "downgrade", REGISTRY[server].audit_revision)
    assert await _catalog(own_database) == with_audit_only
    await run_migrations(own_database)
    assert await _catalog(own_database) == at_heads


@pytest.mark.parametrize("server", SERVERS)
async def test_a_freshly_migrated_schema_matches_its_reviewed_snapshot(own_database: AsyncEngine, server: str) -> None:
    await run_migrations(own_database)
    current = await schema_catalog(own_database, server)
    if os.environ.get("SUPPLYCHAIN_UPDATE_SNAPSHOTS") == "1":
        write_snapshot(server, current)
    assert read_snapshot(server) == current
