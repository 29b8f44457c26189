"""Returns data: tables (SQLModel, `table=True`) and what tools return (`...Public`).

Every table carries `tenant_id`; row-level security and the service queries both key on it.
Composite foreign keys include `tenant_id`, so a return can never point at another tenant's order.

A return's customer note is written by the customer, not by anyone in the organisation. Tools hand
it out only as `UntrustedText` (see `securemcp.untrusted`), so a model reading the result is told, in
the data itself, that the text is data and not instructions (prompt injection through stored records).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from securemcp.untrusted import UntrustedText
from sqlalchemy import Column, DateTime, Enum, ForeignKeyConstraint, func
from sqlmodel import Field, SQLModel

SCHEMA = "returns"


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True)
    tenant_id: str
    order_reference: str
    sku: str
    description: str
    quantity: int
    delivered_at: datetime = Field(sa_type=DateTime(timezone=True))


class ReturnStatus(StrEnum):
    requested = "requested"
    approved = "approved"
    rejected = "rejected"
    received = "received"
    refunded = "refunded"


class RejectionReason(StrEnum):
    outside_return_window = "outside_return_window"
    item_not_eligible = "item_not_eligible"
    damaged_by_customer = "damaged_by_customer"
    duplicate_request = "duplicate_request"


class ReturnBase(SQLModel):
    order_reference: str
    sku: str
    quantity: int


class ReturnAuthorisation(ReturnBase, table=True):
    __tablename__ = "return_authorisations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "order_reference", "sku"],
            [f"{SCHEMA}.order_lines.{column}" for column in ("tenant_id", "order_reference", "sku")],
        ),
        {"schema": SCHEMA},
    )

    id: str = Field(primary_key=True)
    tenant_id: str
    # Stored as text with a CHECK constraint (see the migration), not a native Postgres enum type.
    status: ReturnStatus = Field(default=ReturnStatus.requested, sa_type=Enum(ReturnStatus, native_enum=False))
    customer_note: str | None = None
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    decided_by: str | None = None
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    rejection_reason: RejectionReason | None = Field(default=None, sa_type=Enum(RejectionReason, native_enum=False))


class ReturnSummaryPublic(BaseModel):
    """A return as listed: no customer text at all, only whether there is some to read."""

    id: str
    order_reference: str
    sku: str
    quantity: int
    status: ReturnStatus
    requested_at: datetime
    has_customer_note: bool

    @classmethod
    def of(cls, row: ReturnAuthorisation) -> ReturnSummaryPublic:
        return cls(
            id=row.id,
            order_reference=row.order_reference,
            sku=row.sku,
            quantity=row.quantity,
            status=row.status,
            requested_at=row.requested_at,
            has_customer_note=row.customer_note is not None,
        )


class ReturnPage(BaseModel):
    items: list[ReturnSummaryPublic]
    next_cursor: str | None


class ReturnPublic(BaseModel):
    id: str
    order_reference: str
    sku: str
    quantity: int
    status: ReturnStatus
    requested_at: datetime
    customer_note: UntrustedText | None
    decided_by: str | None
    decided_at: datetime | None
    rejection_reason: RejectionReason | None

    @classmethod
    def of(cls, row: ReturnAuthorisation) -> ReturnPublic:
        note = None if row.customer_note is None else UntrustedText.of(row.customer_note)
        return cls(
            id=row.id,
            order_reference=row.order_reference,
            sku=row.sku,
            quantity=row.quantity,
            status=row.status,
            requested_at=row.requested_at,
            customer_note=note,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            rejection_reason=row.rejection_reason,
        )
