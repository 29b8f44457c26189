"""A new server's one-call security tables (`migrations.security_tables`) equal the original chain's end.

The four original servers reached their audit, approval and idempotency tables through six migrations
each; a scaffolded server gets them from three calls in its first migration. Both are built here for
the schema of the first registered server with the full chain (its role `<name>_svc` exists
cluster-wide after `db init`), each in a database of its own, and compared through the catalog:
columns, indexes, constraints, row-level security and its policies, triggers, functions and every grant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from deployment.registry import REGISTRY
from migrations.security_tables import create_approvals, create_audit_trail, create_idempotency
from supplychain.admin import META_SCHEMA, OWNER_ROLE, alembic_config
from tests.helpers import fresh_database

# The first registered server whose audit trail came by the migration chain (a scaffolded server's comes
# in its first migration, `<name>_0001`): the chain's end is what the three calls must equal.
SCHEMA = next((server.name for server in REGISTRY.values() if server.audit_migration != "0001"), "")
TABLES = ["audit_log", "pending_approvals", "idempotency_keys"]
CATALOG = {
    "columns": "SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default "
    "FROM information_schema.columns WHERE table_schema = :s AND table_name = ANY(:t)",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s AND tablename = ANY(:t)",
    "constraints": "SELECT r.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
    "JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
    "WHERE n.nspname = :s AND r.relname = ANY(:t)",
    "policies": "SELECT tablename, policyname, qual, with_check FROM pg_policies "
    "WHERE schemaname = :s AND tablename = ANY(:t)",
    "row security": "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relname = ANY(:t)",
    "triggers": "SELECT event_object_table, trigger_name, event_manipulation, action_statement "
    "FROM information_schema.triggers WHERE trigger_schema = :s AND event_object_table = ANY(:t)",
    "functions": "SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.prosecdef, p.proconfig::text, "
    "p.proacl::text, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s",
    "table grants": "SELECT table_name, grantee, privilege_type FROM information_schema.role_table_grants "
    "WHERE table_schema = :s AND table_name = ANY(:t)",
    "column grants": "SELECT table_name, column_name, grantee, privilege_type "
    "FROM information_schema.column_privileges WHERE table_schema = :s AND table_name = ANY(:t)",
}


@asynccontextmanager
async def _database(admin_url: str) -> AsyncIterator[AsyncEngine]:
    """A new, empty database with the schema `db init` makes for that server; dropped afterwards."""
    async with fresh_database(admin_url, "security_tables", (SCHEMA, META_SCHEMA)) as engine:
        yield engine


async def _as_owner(engine: AsyncEngine, work: Callable[[Connection], None]) -> None:
    async with engine.connect() as conn:
        await conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
        await conn.run_sync(work)
        await conn.commit()


def _chain(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, f"{SCHEMA}@head")


def _three_calls(connection: Connection) -> None:
    with Operations.context(MigrationContext.configure(connection)):
        create_audit_trail(SCHEMA)
        create_approvals(SCHEMA)
        create_idempotency(SCHEMA)


async def _catalog(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return {
            name: sorted(tuple(row) for row in await conn.execute(text(sql), {"s": SCHEMA, "t": TABLES}))
            for name, sql in CATALOG.items()
        }


async def test_three_calls_build_what_the_six_migrations_of_an_original_server_built(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    if not SCHEMA:
        pytest.skip("no registered server has the original migration chain to compare with")
    async with _database(admin_url) as chained, _database(admin_url) as called:
        await _as_owner(chained, _chain)
        await _as_owner(called, _three_calls)
        expected, actual = await _catalog(chained), await _catalog(called)
    assert {table for table, *_ in expected["columns"]} == set(TABLES)
    assert {name for name, *_ in expected["functions"]} == {
        "audit_append",
        "audit_chain_heads",
        "audit_log_is_append_only",
    }
    for part in CATALOG:
        assert actual[part] == expected[part], part
