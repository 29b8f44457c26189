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
from sqlalchemy import Connection
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
