"""Inventory data: tables (SQLModel, `table=True`) and what tools return (`...Public`).

Every table carries `tenant_id`; row-level security and the service queries both key on it.
Composite foreign keys include `tenant_id`, so a row can never point at another tenant's row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from securemcp.tenancy.database import timestamp_column, utc_now
from sqlalchemy import Enum, ForeignKeyConstraint
from sqlmodel import Field, SQLModel

SCHEMA = "inventory"


class Warehouse(SQLModel, table=True):
    __tablename__ = "warehouses"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True)
    tenant_id: str
    code: str
    name: str
    city: str


class StockLevel(SQLModel, table=True):
    __tablename__ = "stock_levels"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "warehouse_code"], [f"{SCHEMA}.warehouses.tenant_id", f"{SCHEMA}.warehouses.code"]
        ),
        {"schema": SCHEMA},
    )

    id: str = Field(primary_key=True)
    tenant_id: str
    warehouse_code: str
    sku: str
    description: str
    on_hand: int
    reserved: int
    reorder_point: int
    reorder_quantity: int


class ReorderStatus(StrEnum):
    open = "open"
    cancelled = "cancelled"
    received = "received"


class ReorderBase(SQLModel):
    sku: str
    warehouse_code: str
    quantity: int


class Reorder(ReorderBase, table=True):
    __tablename__ = "reorders"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "warehouse_code", "sku"],
            [f"{SCHEMA}.stock_levels.tenant_id", f"{SCHEMA}.stock_levels.warehouse_code", f"{SCHEMA}.stock_levels.sku"],
        ),
        {"schema": SCHEMA},
    )

    id: str = Field(primary_key=True)
    tenant_id: str
    # Stored as text with a CHECK constraint (see the migration), not a native Postgres enum type.
    status: ReorderStatus = Field(default=ReorderStatus.open, sa_type=Enum(ReorderStatus, native_enum=False))
    requested_by: str
    created_at: datetime = Field(default_factory=utc_now, sa_column=timestamp_column())
    cancelled_by: str | None = None


class WarehousePublic(BaseModel):
    code: str
    name: str
    city: str


class WarehousePage(BaseModel):
    items: list[WarehousePublic]
    next_cursor: str | None


class StockLevelPublic(BaseModel):
    sku: str
    description: str
    warehouse: str
    on_hand: int
    reserved: int
    available: int
    reorder_point: int
    reorder_quantity: int
    below_reorder_point: bool

    @classmethod
    def of(cls, row: StockLevel) -> StockLevelPublic:
        available = row.on_hand - row.reserved
        return cls(
            sku=row.sku,
            description=row.description,
            warehouse=row.warehouse_code,
            on_hand=row.on_hand,
            reserved=row.reserved,
            available=available,
            reorder_point=row.reorder_point,
            reorder_quantity=row.reorder_quantity,
            below_reorder_point=available < row.reorder_point,
        )


class StockLevelPage(BaseModel):
    items: list[StockLevelPublic]
    next_cursor: str | None


class ReorderPublic(BaseModel):
    id: str
    sku: str
    warehouse: str
    quantity: int
    status: ReorderStatus
    requested_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: Reorder) -> ReorderPublic:
        return cls(
            id=row.id,
            sku=row.sku,
            warehouse=row.warehouse_code,
            quantity=row.quantity,
            status=row.status,
            requested_by=row.requested_by,
            created_at=row.created_at,
        )


class ReorderPage(BaseModel):
    items: list[ReorderPublic]
    next_cursor: str | None
