"""Payments data: tables (SQLModel, `table=True`) and what tools return (`...Public`).

Every table carries `tenant_id`; row-level security and the service queries both key on it.
Composite foreign keys include `tenant_id` (and the currency), so a refund can never point at another
tenant's charge or be booked in a different currency from it.

Money is `Decimal` end to end, never float (`securemcp.money`: `Amount`, `Currency`, `to_cents`), stored
as `numeric(14, 2)`.

A supplier's name is the supplier's own text, as it came in on their invoice: tools hand it out only
as `UntrustedText` (see `securemcp.untrusted`), so a name that carries instructions reaches a model as
labelled data (prompt injection through stored records).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel
from securemcp.money import Amount, Currency
from securemcp.tenancy.database import timestamp_column, utc_now
from securemcp.untrusted import UntrustedText
from sqlalchemy import DateTime, Enum, ForeignKeyConstraint, Numeric
from sqlmodel import Field, SQLModel

SCHEMA = "payments"


class PaymentStatus(StrEnum):
    pending_approval = "pending_approval"
    released = "released"
    failed = "failed"


class Payment(SQLModel, table=True):
    """A payment to a supplier against one of its invoices."""

    __tablename__ = "payments"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True)
    tenant_id: str
    supplier_name: str
    invoice_ref: str
    amount: Decimal = Field(sa_type=Numeric(14, 2))
    # Stored as text with a CHECK constraint (see the migration), not a native Postgres enum type.
    currency: Currency = Field(sa_type=Enum(Currency, native_enum=False))
    status: PaymentStatus = Field(
        default=PaymentStatus.pending_approval, sa_type=Enum(PaymentStatus, native_enum=False)
    )
    due_on: date
    created_at: datetime = Field(default_factory=utc_now, sa_column=timestamp_column())
    released_by: str | None = None
    released_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Charge(SQLModel, table=True):
    """A charge to a customer; `refunded` is the running total of its refunds."""

    __tablename__ = "charges"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True)
    tenant_id: str
    customer_name: str
    reference: str
    amount: Decimal = Field(sa_type=Numeric(14, 2))
    refunded: Decimal = Field(default=Decimal("0.00"), sa_type=Numeric(14, 2))
    currency: Currency = Field(sa_type=Enum(Currency, native_enum=False))
    created_at: datetime = Field(default_factory=utc_now, sa_column=timestamp_column())


class Refund(SQLModel, table=True):
    """Money given back on a charge, in the charge's currency."""

    __tablename__ = "refunds"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "charge_id", "currency"],
            [f"{SCHEMA}.charges.tenant_id", f"{SCHEMA}.charges.id", f"{SCHEMA}.charges.currency"],
        ),
        {"schema": SCHEMA},
    )

    id: str = Field(primary_key=True)
    tenant_id: str
    charge_id: str
    amount: Decimal = Field(sa_type=Numeric(14, 2))
    currency: Currency = Field(sa_type=Enum(Currency, native_enum=False))
    issued_by: str
    created_at: datetime = Field(default_factory=utc_now, sa_column=timestamp_column())


class PaymentPublic(BaseModel):
    """A supplier payment. `amount` is a two-decimal string in structured output, e.g. "1250.00"."""

    id: str
    supplier: UntrustedText
    invoice_ref: str
    amount: Amount
    currency: Currency
    status: PaymentStatus
    due_on: date
    created_at: datetime
    released_by: str | None
    released_at: datetime | None

    @classmethod
    def of(cls, row: Payment) -> PaymentPublic:
        return cls(
            id=row.id,
            supplier=UntrustedText.of(row.supplier_name),
            invoice_ref=row.invoice_ref,
            amount=row.amount,
            currency=row.currency,
            status=row.status,
            due_on=row.due_on,
            created_at=row.created_at,
            released_by=row.released_by,
            released_at=row.released_at,
        )


class PaymentPage(BaseModel):
    items: list[PaymentPublic]
    next_cursor: str | None


class ChargePublic(BaseModel):
    """A customer charge. Amounts are two-decimal strings in structured output; refundable = amount - refunded."""

    id: str
    customer: str
    reference: str
    amount: Amount
    refunded: Amount
    refundable: Amount
    currency: Currency
    created_at: datetime

    @classmethod
    def of(cls, row: Charge) -> ChargePublic:
        return cls(
            id=row.id,
            customer=row.customer_name,
            reference=row.reference,
            amount=row.amount,
            refunded=row.refunded,
            refundable=row.amount - row.refunded,
            currency=row.currency,
            created_at=row.created_at,
        )


class ChargePage(BaseModel):
    items: list[ChargePublic]
    next_cursor: str | None


class RefundPublic(BaseModel):
    """A refund just issued, and what stays refundable on its charge (two-decimal strings in output)."""

    id: str
    charge_id: str
    amount: Amount
    currency: Currency
    issued_by: str
    created_at: datetime
    charge_refunded: Amount
    charge_refundable: Amount

    @classmethod
    def of(cls, row: Refund, charge: Charge) -> RefundPublic:
        return cls(
            id=row.id,
            charge_id=row.charge_id,
            amount=row.amount,
            currency=row.currency,
            issued_by=row.issued_by,
            created_at=row.created_at,
            charge_refunded=charge.refunded,
            charge_refundable=charge.amount - charge.refunded,
        )
