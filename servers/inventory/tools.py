"""Inventory tools. Each docstring is the description a model reads.

Thin by design: validate, read or write in the caller's tenant transaction, return a typed
`...Public` model. A read runs a statement of `service.py` with `caller.read_one/read_all` (`securemcp.tenancy.reads`:
the tenant comes from the verified caller); a side effect calls a service function in `caller.transaction()`.
The caller and the human's approval arrive by injection (`Resolve`); they are not in the input schema
and no argument can stand in for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from pydantic import Field
from securemcp.approvals.answer import ConfirmAnswer, Deferred, require_approval
from securemcp.approvals.paths import seek_approval
from securemcp.approvals.pending import Question, approvable
from securemcp.errors import ConflictError, InvalidInputError, NotFoundError
from securemcp.gate.idempotency import IdempotencyKey
from securemcp.identity.principal import Identity
from securemcp.pagination import Cursor, PageLimit, decode_cursor, split_page
from securemcp.runtime.caller import CallerDep
from sqlmodel.ext.asyncio.session import AsyncSession

from servers.inventory import service
from servers.inventory.models import (
    ReorderPage,
    ReorderPublic,
    ReorderStatus,
    StockLevelPage,
    StockLevelPublic,
    WarehousePage,
    WarehousePublic,
)

Sku = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$", description="SKU code, e.g. 'BOLT-M8'")]
WarehouseCode = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,15}$", description="Warehouse code, e.g. 'AMS-1'")]
Quantity = Annotated[int, Field(ge=1, le=10_000, description="Units to reorder, 1 to 10000")]
ReorderId = Annotated[str, Field(pattern=r"^ro_[0-9a-f]{20}$", description="Reorder id, e.g. 'ro_3f9a...'")]


async def list_warehouses(caller: CallerDep, limit: PageLimit = 25, cursor: Cursor = None) -> WarehousePage:
    """List the warehouses of your organisation, by code."""
    after = decode_cursor(cursor)
    statement = service.warehouses_statement(after=after is not None)
    rows = await caller.read_all(statement, limit=limit + 1, after_code=after[0] if after else None)
    items, next_cursor = split_page(rows, limit=limit, key_of=lambda row: (row.code,))
    return WarehousePage(
        items=[WarehousePublic(code=w.code, name=w.name, city=w.city) for w in items], next_cursor=next_cursor
    )


async def list_stock_levels(
    caller: CallerDep,
    warehouse: WarehouseCode | None = None,
    below_reorder_point: bool = False,
    limit: PageLimit = 25,
    cursor: Cursor = None,
) -> StockLevelPage:
    """List stock levels by warehouse and SKU. Set below_reorder_point to see only what needs reordering."""
    after = decode_cursor(cursor, parts=2)
    statement = service.stock_levels_statement(
        by_warehouse=warehouse is not None, below_reorder_point=below_reorder_point, after=after is not None
    )
    rows = await caller.read_all(
        statement, limit=limit + 1, warehouse_code=warehouse,
        after_warehouse=after[0] if after else None, after_sku=after[1] if after else None,
    )  # fmt: skip
    items, next_cursor = split_page(rows, limit=limit, key_of=lambda row: (row.warehouse_code, row.sku))
    return StockLevelPage(items=[StockLevelPublic.of(row) for row in items], next_cursor=next_cursor)


async def get_stock_level(caller: CallerDep, sku: Sku, warehouse: WarehouseCode) -> StockLevelPublic:
    """Get the stock level of one SKU in one warehouse."""
    row = await caller.read_one(service.STOCK_LEVEL, sku=sku, warehouse_code=warehouse)
    if row is None:
        raise NotFoundError("stock level", f"{sku} in {warehouse}")
    return StockLevelPublic.of(row)


async def list_reorders(
    caller: CallerDep, status: ReorderStatus | None = None, limit: PageLimit = 25, cursor: Cursor = None
) -> ReorderPage:
    """List reorders, newest first, optionally only those with the given status."""
    after = decode_cursor(cursor, parts=2)
    try:
        after_key = (datetime.fromisoformat(after[0]), after[1]) if after else None
    except ValueError:
        raise InvalidInputError(f"malformed cursor {cursor!r}") from None
    statement = service.reorders_statement(by_status=status is not None, after=after_key is not None)
    rows = await caller.read_all(
        statement, limit=limit + 1, status=status.value if status is not None else None,
        after_created_at=after_key[0] if after_key else None, after_id=after_key[1] if after_key else None,
    )  # fmt: skip
    items, next_cursor = split_page(rows, limit=limit, key_of=lambda row: (row.created_at.isoformat(), row.id))
    return ReorderPage(items=[ReorderPublic.of(row) for row in items], next_cursor=next_cursor)


async def seek_create_reorder_approval(
    ctx: Context, sku: str, warehouse: str, quantity: int, caller: CallerDep
) -> Elicit[ConfirmAnswer] | Deferred:
    """Approval question for create_reorder: exactly what will be ordered, where, for whom."""
    who = caller.identity
    return await seek_approval(
        ctx,
        caller,
        Question(
            f"Create a purchase reorder of {quantity} x {sku} for warehouse {warehouse} "
            f"(organisation {who.tenant_id}, requested by {who.user_id})."
        ),
    )


async def execute_create_reorder(
    who: Identity, session: AsyncSession, *, sku: str, warehouse: str, quantity: int
) -> ReorderPublic:
    """create_reorder's effect, for `who`: run in band after a yes, or by a decision on the page."""
    reorder = await service.create_reorder(
        session=session, tenant_id=who.tenant_id, user_id=who.user_id, sku=sku, warehouse_code=warehouse,
        quantity=quantity,
    )  # fmt: skip
    if reorder is None:
        raise NotFoundError("stock level", f"{sku} in {warehouse}")
    return ReorderPublic.of(reorder)


async def create_reorder(
    caller: CallerDep,
    sku: Sku,
    warehouse: WarehouseCode,
    quantity: Quantity,
    approval: Annotated[ElicitationResult[ConfirmAnswer], Resolve(seek_create_reorder_approval)],
    idempotency_key: IdempotencyKey = None,
) -> ReorderPublic:
    """Create a purchase reorder for a SKU in a warehouse. A human is asked to approve it first."""
    require_approval(approval, "create_reorder")
    async with caller.transaction() as session:
        return await execute_create_reorder(caller.identity, session, sku=sku, warehouse=warehouse, quantity=quantity)


async def seek_cancel_reorder_approval(
    ctx: Context, reorder_id: str, caller: CallerDep
) -> Elicit[ConfirmAnswer] | Deferred:
    """Approval question for cancel_reorder, naming the reorder as it stands."""
    async with caller.lookup() as session:
        reorder = await service.get_reorder(session=session, tenant_id=caller.identity.tenant_id, reorder_id=reorder_id)
    if reorder is None:
        # Ask nothing about a reorder the caller cannot see; the same answer as for a wrong id.
        raise NotFoundError("reorder", reorder_id)
    if reorder.status != ReorderStatus.open:
        raise ConflictError(f"reorder {reorder_id!r} is {reorder.status}, not open; nothing changed")
    return await seek_approval(
        ctx,
        caller,
        Question(
            f"Cancel reorder {reorder.id}: {reorder.quantity} x {reorder.sku} for warehouse "
            f"{reorder.warehouse_code}, status {reorder.status} (organisation {caller.identity.tenant_id}, "
            f"requested by {caller.identity.user_id})."
        ),
    )


async def execute_cancel_reorder(who: Identity, session: AsyncSession, *, reorder_id: str) -> ReorderPublic:
    """cancel_reorder's effect, for `who`: run in band after a yes, or by a decision on the page."""
    reorder = await service.get_reorder(
        session=session, tenant_id=who.tenant_id, reorder_id=reorder_id, for_update=True
    )
    if reorder is None:
        raise NotFoundError("reorder", reorder_id)
    if reorder.status != ReorderStatus.open:
        raise ConflictError(f"reorder {reorder_id!r} is {reorder.status}, not open; nothing changed")
    return ReorderPublic.of(await service.cancel_reorder(session=session, reorder=reorder, user_id=who.user_id))


async def cancel_reorder(
    caller: CallerDep,
    reorder_id: ReorderId,
    approval: Annotated[ElicitationResult[ConfirmAnswer], Resolve(seek_cancel_reorder_approval)],
    idempotency_key: IdempotencyKey = None,
) -> ReorderPublic:
    """Cancel an open reorder. A human is asked to approve it first."""
    require_approval(approval, "cancel_reorder")
    async with caller.transaction() as session:
        return await execute_cancel_reorder(caller.identity, session, reorder_id=reorder_id)


APPROVABLE = {
    "create_reorder": approvable(create_reorder, execute_create_reorder),
    "cancel_reorder": approvable(cancel_reorder, execute_cancel_reorder),
}
