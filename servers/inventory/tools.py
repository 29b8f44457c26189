"""Inventory tools. Each docstring is the description a model reads.

Thin by design: validate, read or write in the caller's tenant transaction, return a typed
`...Public` model. A read runs a statement of `service.py` with `caller.read_one/read_all` (`securemcp.tenancy.reads`:
the tenant comes from the verified caller). A side effect is one `SideEffect` declaration
(`securemcp.gate.side_effects`): its arguments (whose docstring a model reads), scope, approval level,
question and effect; the library derives the MCP tool, asks the human and runs the effect in the call's
transaction. The caller and the human's answer arrive by injection (`Resolve`); they are not in the
input schema and no argument can stand in for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from mcp.types import ToolAnnotations
from pydantic import Field
from securemcp.approvals.pending import Question
from securemcp.errors import ConflictError, InvalidInputError, NotFoundError
from securemcp.gate.side_effects import SideEffect
from securemcp.identity.principal import Identity
from securemcp.levels import Level
from securemcp.pagination import Cursor, PageLimit, decode_cursor, split_page
from securemcp.runtime.caller import CallerDep
from sqlmodel.ext.asyncio.session import AsyncSession

from servers.inventory import service
from servers.inventory.models import (
    Reorder,
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


# The side effects. Approval levels and why: README "Approval levels".

LARGE_REORDER = 5000  # units: a reorder above this needs the requester's signed-in yes on the page

# A reorder adds an open order and repeating it orders again (not idempotent); it overwrites nothing.
REORDER = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)


@dataclass(frozen=True)
class CreateReorder:
    """Create a purchase reorder for a SKU in a warehouse. A human is asked to approve it first."""

    sku: Sku
    warehouse: WarehouseCode
    quantity: Quantity


def large_reorder(order: CreateReorder) -> Level | None:
    """A reorder above LARGE_REORDER units commits real money: `verified`."""
    return "verified" if order.quantity > LARGE_REORDER else None


def reorder_question(order: CreateReorder, who: Identity) -> Question:
    """Exactly what will be ordered, where, for whom."""
    return Question(
        f"Create a purchase reorder of {order.quantity} x {order.sku} for warehouse {order.warehouse} "
        f"(organisation {who.tenant_id}, requested by {who.user_id})."
    )


async def place_reorder(who: Identity, session: AsyncSession, order: CreateReorder) -> ReorderPublic:
    """Record the open reorder, requested by `who`."""
    reorder = await service.create_reorder(
        session=session, tenant_id=who.tenant_id, user_id=who.user_id, sku=order.sku,
        warehouse_code=order.warehouse, quantity=order.quantity,
    )  # fmt: skip
    if reorder is None:
        raise NotFoundError("stock level", f"{order.sku} in {order.warehouse}")
    return ReorderPublic.of(reorder)


create_reorder = SideEffect(
    name="create_reorder",
    title="Create a reorder",
    scope="inventory:reorder",
    arguments=CreateReorder,
    level="confirm",
    raise_level=large_reorder,
    question=reorder_question,
    effect=place_reorder,
    annotations=REORDER,
)


@dataclass(frozen=True)
class CancelReorder:
    """Cancel an open reorder. A human is asked to approve it first."""

    reorder_id: ReorderId


async def open_reorder(who: Identity, session: AsyncSession, cancel: CancelReorder) -> Reorder:
    """The reorder to cancel, locked; refused unless it is still open (checked before the question and again after)."""
    reorder = await service.get_reorder(
        session=session, tenant_id=who.tenant_id, reorder_id=cancel.reorder_id, for_update=True
    )
    if reorder is None:
        # Ask nothing about a reorder the caller cannot see; the same answer as for a wrong id.
        raise NotFoundError("reorder", cancel.reorder_id)
    if reorder.status != ReorderStatus.open:
        raise ConflictError(f"reorder {cancel.reorder_id!r} is {reorder.status}, not open; nothing changed")
    return reorder


def cancel_question(reorder: Reorder, who: Identity) -> Question:
    """The reorder as it stands."""
    return Question(
        f"Cancel reorder {reorder.id}: {reorder.quantity} x {reorder.sku} for warehouse {reorder.warehouse_code}, "
        f"status {reorder.status} (organisation {who.tenant_id}, requested by {who.user_id})."
    )


async def cancel(who: Identity, session: AsyncSession, reorder: Reorder) -> ReorderPublic:
    """Mark the locked reorder cancelled by `who`."""
    return ReorderPublic.of(await service.cancel_reorder(session=session, reorder=reorder, user_id=who.user_id))


cancel_reorder = SideEffect(
    name="cancel_reorder",
    title="Cancel a reorder",
    scope="inventory:reorder",
    arguments=CancelReorder,
    lock=open_reorder,
    level="confirm",
    question=cancel_question,
    effect=cancel,
    annotations=CANCEL,
)
