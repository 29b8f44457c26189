"""The library's security tables (`securemcp.schema.tables.create_security_tables`) are exactly what each server has.

For every registered server, the one library call, run alone in an empty schema of that name, builds
the same audit trail, pending approvals and idempotency keys (tables, columns, indexes, constraints,
row-level security and its policies, triggers, functions and every grant) as the server's migrated
schema holds: a server's own migration neither adds to them nor changes them. Together with
tests/shared/test_migrations.py (each migrated schema equals its reviewed snapshot, taken from the
old migration chains), this pins the library's DDL to what the library's code was written against.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from securemcp.schema.tables import (
    SECURITY_FUNCTIONS,
    SECURITY_TABLES,
    create_security_tables,
)
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from deployment.registry import SERVERS
from migrations import META_SCHEMA
from supplychain.admin import OWNER_ROLE, run_migrations
from tests.helpers import fresh_database
from tests.schema_catalog import only, read_snapshot, schema_catalog, snapshot_file

LIBRARY_TABLES = SECURITY_TABLES


@pytest.fixture(scope="module")
async def migrated(admin_url: str, server_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    """Every registered server's schema, migrated as `db init` migrates it."""
    async with fresh_database(admin_url, "security_migrated", (*SERVERS, META_SCHEMA)) as engine:
        await run_migrations(engine)
        yield engine


@pytest.fixture(scope="module")
async def library_only(admin_url: str, server_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    """Every registered server's schema holding nothing but what `create_security_tables` made there."""
    async with fresh_database(admin_url, "security_library", SERVERS) as engine:
        for server in SERVERS:
            await _as_owner(engine, lambda connection, server=server: _library_call(connection, server))
        yield engine


async def _as_owner(engine: AsyncEngine, work: Callable[[Connection], None]) -> None:
    async with engine.connect() as conn:
        await conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
        await conn.run_sync(work)


def _library_call(connection: Connection, schema: str) -> None:
    with Operations.context(MigrationContext.configure(connection)):
        create_security_tables(schema)


def _security_part(catalog: dict[str, list[list[object]]]) -> dict[str, list[list[object]]]:
    return only(catalog, tables=LIBRARY_TABLES, functions=SECURITY_FUNCTIONS)


@pytest.mark.parametrize("server", SERVERS)
async def test_the_library_call_alone_builds_the_security_tables_the_server_has(
    migrated: AsyncEngine, library_only: AsyncEngine, server: str
) -> None:
    made_by_library = await schema_catalog(library_only, server)
    assert {row[0] for row in made_by_library["relations"] if row[1] == "r"} == set(LIBRARY_TABLES)
    assert {row[0] for row in made_by_library["functions"]} == set(SECURITY_FUNCTIONS)
    in_the_server = _security_part(await schema_catalog(migrated, server))
    for part, rows in _security_part(made_by_library).items():
        if part != "schema":  # the library does not grant the schema's use; the server's migration does
            assert in_the_server[part] == rows, part


@pytest.mark.parametrize("server", SERVERS)
def test_the_snapshot_holds_the_final_security_tables_of_the_old_chain(server: str) -> None:
    if not snapshot_file(server).exists():
        pytest.skip(f"no reviewed schema snapshot for {server}")
    snapshot = read_snapshot(server)
    columns = {(table, name) for table, _, name, *_ in snapshot["columns"]}
    # What the old chain's later revisions changed: attribution columns and approval levels are there,
    # the token index that one revision made and a later one dropped is not.
    assert {("audit_log", "token_id"), ("audit_log", "client_address"), ("pending_approvals", "level")} <= columns
    assert "audit_log_token" not in {name for _, name, _ in snapshot["indexes"]}
    checks = {name: definition for _, name, _, definition in snapshot["constraints"]}
    assert "'page'::text" in checks["audit_log_actor_kind_check"]
    assert "'replayed'::text" in checks["audit_log_decision_check"]
