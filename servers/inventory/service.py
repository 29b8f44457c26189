"""Inventory business logic. Plain async functions with keyword-only arguments; no MCP here.

Each function receives a session opened by `securemcp.tenancy.database.tenant_transaction` (row-level security
already scoped to the tenant) and still filters by `tenant_id` itself: two layers, so a bug in one
leaks nothing. The read tools' statements (`STOCK_LEVEL`, `*_statement`) are the same SQLModel
queries compiled once for the driver (`securemcp.tenancy.reads`); the tools run them with `caller.read_one/all`.
"""

from __future__ import annotations

from functools import cache

from securemcp.ids import new_id
from securemcp.tenancy.reads import ReadStatement, read_statement
from sqlalchemy import bindparam, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from servers.inventory.models import Reorder, ReorderStatus, StockLevel, Warehouse


# The list tools' read path (`securemcp.tenancy.reads`): one statement per combination of filters, built on first
# use and kept. The tenant and every value are bound parameters; `limit` is the page size plus one.
@cache
def warehouses_statement(*, after: bool) -> ReadStatement[Warehouse]:
    """Warehouses ordered by code, optionally after `after_code`."""
    query = (
        select(Warehouse)
        .where(Warehouse.tenant_id == bindparam("tenant_id"))
        .order_by(col(Warehouse.code))
        .limit(bindparam("limit"))
    )
    if after:
        query = query.where(col(Warehouse.code) > bindparam("after_code"))
    return read_statement(query)


@cache
def stock_levels_statement(*, by_warehouse: bool, below_reorder_point: bool, after: bool) -> ReadStatement[StockLevel]:
    """Stock levels ordered by (warehouse, sku), with the filters asked for."""
    query = (
        select(StockLevel)
        .where(StockLevel.tenant_id == bindparam("tenant_id"))
        .order_by(col(StockLevel.warehouse_code), col(StockLevel.sku))
        .limit(bindparam("limit"))
    )
    if by_warehouse:
        query = query.where(StockLevel.warehouse_code == bindparam("warehouse_code"))
    if below_reorder_point:
        query = query.where(col(StockLevel.on_hand) - col(StockLevel.reserved) < col(StockLevel.reorder_point))
    if after:
        after_key = tuple_(bindparam("after_warehouse"), bindparam("after_sku"))
        query = query.where(tuple_(col(StockLevel.warehouse_code), col(StockLevel.sku)) > after_key)
    return read_statement(query)


@cache
def reorders_statement(*, by_status: bool, after: bool) -> ReadStatement[Reorder]:
    """Reorders, newest first, with the filters asked for."""
    query = (
        select(Reorder)
        .where(Reorder.tenant_id == bindparam("tenant_id"))
        .order_by(col(Reorder.created_at).desc(), col(Reorder.id).desc())
        .limit(bindparam("limit"))
    )
    if by_status:
        query = query.where(col(Reorder.status) == bindparam("status"))
    if after:
        after_key = tuple_(bindparam("after_created_at"), bindparam("after_id"))
        query = query.where(tuple_(col(Reorder.created_at), col(Reorder.id)) < after_key)
    return read_statement(query)


# Built once with bound parameters: composing a statement costs more than running it (measured
# by `supplychain bench`). The tenant is still a parameter of every lookup.
_STOCK_LEVEL = select(StockLevel).where(
    StockLevel.tenant_id == bindparam("tenant_id"),
    StockLevel.sku == bindparam("sku"),
    StockLevel.warehouse_code == bindparam("warehouse_code"),
)


# The read tool's path (`securemcp.tenancy.reads`): the same statement, compiled once for the driver.
STOCK_LEVEL: ReadStatement[StockLevel] = read_statement(_STOCK_LEVEL)


async def get_stock_level(*, session: AsyncSession, tenant_id: str, sku: str, warehouse_code: str) -> StockLevel | None:
    """The stock level of one SKU in one warehouse, or None."""
    params = {"tenant_id": tenant_id, "sku": sku, "warehouse_code": warehouse_code}
    return (await session.exec(_STOCK_LEVEL, params=params)).first()


_REORDER = select(Reorder).where(Reorder.tenant_id == bindparam("tenant_id"), Reorder.id == bindparam("id"))


async def get_reorder(
    *, session: AsyncSession, tenant_id: str, reorder_id: str, for_update: bool = False
) -> Reorder | None:
    """One reorder by id, or None (also for another tenant's id)."""
    query = _REORDER.with_for_update() if for_update else _REORDER
    return (await session.exec(query, params={"tenant_id": tenant_id, "id": reorder_id})).first()


async def create_reorder(
    *, session: AsyncSession, tenant_id: str, user_id: str, sku: str, warehouse_code: str, quantity: int
) -> Reorder | None:
    """Record an open reorder; None when the tenant stocks no such SKU in that warehouse."""
    if await get_stock_level(session=session, tenant_id=tenant_id, sku=sku, warehouse_code=warehouse_code) is None:
        return None
    reorder = Reorder(
        id=new_id("ro"),
        tenant_id=tenant_id,
        sku=sku,
        warehouse_code=warehouse_code,
        quantity=quantity,
        status=ReorderStatus.open,
        requested_by=user_id,
    )
    session.add(reorder)
    await session.flush()
    await session.refresh(reorder)
    return reorder


async def cancel_reorder(*, session: AsyncSession, reorder: Reorder, user_id: str) -> Reorder:
    """Mark an open reorder cancelled by `user_id`."""
    reorder.status = ReorderStatus.cancelled
    reorder.cancelled_by = user_id
    session.add(reorder)
    await session.flush()
    return reorder
