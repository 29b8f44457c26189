"""The floor: one raw asyncpg transaction per call (tenant setting plus the same indexed query).

The bare servers run exactly this too, so floor -> bare measures the MCP framework and HTTP, and
bare -> secured measures what the secured server adds (token, scopes, rate limit, request ids, the
ORM, the audit record). `audited_stock_level` adds the audit record our server writes per call
(same statements), so the audit trail's database cost shows on its own. All of them connect as the
server's own role, so row-level security is on everywhere and is not part of the difference.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from deployment.policy import POLICY
from servers.inventory.models import StockLevelPublic

POOL_SIZE = 5  # the servers' default pool size (ServerSettings.pool_size)
SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)"
STOCK_LEVEL = (
    "SELECT sku, description, warehouse_code, on_hand, reserved, reorder_point, reorder_quantity "
    "FROM inventory.stock_levels WHERE tenant_id = $1 AND sku = $2 AND warehouse_code = $3"
)


async def create_pool(dsn: str) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
    return pool


async def stock_level(pool: asyncpg.Pool, tenant: str, sku: str, warehouse: str) -> StockLevelPublic | None:
    """The stock level as the secured tool returns it, read in one tenant transaction."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(SET_TENANT, tenant)
        row: Any = await connection.fetchrow(STOCK_LEVEL, tenant, sku, warehouse)
    if row is None:
        return None
    return _public(row)


def _public(row: Any) -> StockLevelPublic:
    available = row["on_hand"] - row["reserved"]
    return StockLevelPublic(
        sku=row["sku"],
        description=row["description"],
        warehouse=row["warehouse_code"],
        on_hand=row["on_hand"],
        reserved=row["reserved"],
        available=available,
        reorder_point=row["reorder_point"],
        reorder_quantity=row["reorder_quantity"],
        below_reorder_point=available < row["reorder_point"],
    )


async def audited_stock_level(pool: asyncpg.Pool, tenant: str, sku: str, warehouse: str) -> StockLevelPublic | None:
    """The floor plus what the secured server's database does per call: the chained audit record.

    The server's own record (`CallUnitOfWork.record`) and `securemcp.audit.chain.append_all` (tenant and chain lock,
    previous hash, insert) in the same transaction, so floor -> this target is the audit trail's database cost alone.
    """
    from securemcp.audit.chain import append_all
    from securemcp.identity.principal import identity_from_roles
    from securemcp.runtime.unit_of_work import CallUnitOfWork

    caller = identity_from_roles(
        policy=POLICY, tenant_id=tenant, user_id=f"bench@{tenant}", roles=frozenset({"analyst"})
    )
    call = CallUnitOfWork(
        schema="inventory", tool="get_stock_level", arguments={"sku": sku, "warehouse": warehouse},
        identity=caller, transport="http", request_id=None, side_effect=False,
    )  # fmt: skip
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(SET_TENANT, tenant)
        row: Any = await connection.fetchrow(STOCK_LEVEL, tenant, sku, warehouse)
        record = call.record(outcome="ok", detail=None, output_bytes=0)  # the record the server builds
        await append_all(connection, "inventory", [record])
    if row is None:
        return None
    return _public(row)
