"""The library's security tables in a database migrated before this version, brought up to date.

Each server has one initial revision, and the library's DDL it calls (`securemcp.schema`) changed
after some databases had run it: their `audit_log.seq` is still an identity column, which the server
role can set with `INSERT ... OVERRIDING SYSTEM VALUE` (`securemcp.schema.audit_seq` says why that
matters). Alembic cannot tell, since the revision is the same, so `db init` checks the catalog and
refuses such a database, and `supplychain db upgrade-squashed` runs the library's step on it.
"""

from __future__ import annotations

from alembic.migration import MigrationContext
from alembic.operations import Operations
from securemcp.schema.audit_seq import seq_is_choosable, upgrade_audit_seq
from securemcp.schema.tables import complete_older_schema
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from deployment.registry import SERVERS


async def servers_with_a_choosable_seq(conn: AsyncConnection) -> list[str]:
    """The registered servers whose `audit_log.seq` an INSERT can still choose (made before this version)."""
    return [server for server in SERVERS if await conn.run_sync(seq_is_choosable, server)]


def choosable_seq_message(servers: list[str]) -> str:
    """One line for `db init` naming the servers and the command that upgrades them."""
    return (
        f"the audit log of {', '.join(servers)} was made before `seq` was drawn by a trigger (the server role "
        "could choose it): run `supplychain db upgrade-squashed` (docs/upgrading.md)"
    )


async def draw_seq_by_trigger(conn: AsyncConnection, servers: list[str]) -> list[str]:
    """Run the library's step for each of `servers`, in `conn`'s transaction and role (the tables' owner's)."""

    def upgrade(connection: Connection) -> None:
        with Operations.context(MigrationContext.configure(connection)):
            for server in servers:
                upgrade_audit_seq(server)

    await conn.run_sync(upgrade)
    return [f"{server}: audit_log.seq is now drawn from its sequence by a trigger" for server in servers]


def lacks_page_sessions(connection: Connection, schema: str) -> bool:
    """True for a schema whose security tables predate the page sessions and the requester's person; a
    schema with no security tables yet (a server not migrated) is `db init`'s, not an upgrade's."""
    tables = {
        name
        for (name,) in connection.execute(
            text("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = :schema"), {"schema": schema}
        )
    }
    return "pending_approvals" in tables and "page_sessions" not in tables


async def servers_without_page_sessions(conn: AsyncConnection) -> list[str]:
    """The registered servers whose schema predates the page sessions (and the requester's person)."""
    return [server for server in SERVERS if await conn.run_sync(lacks_page_sessions, server)]


async def add_page_sessions(conn: AsyncConnection, servers: list[str]) -> list[str]:
    """Run the library's step for each of `servers`, in `conn`'s transaction and role (the tables' owner's)."""

    def upgrade(connection: Connection) -> None:
        with Operations.context(MigrationContext.configure(connection)):
            for server in servers:
                complete_older_schema(server)

    await conn.run_sync(upgrade)
    return [
        f"{server}: page sessions on the server and the requester's person on approvals added" for server in servers
    ]
