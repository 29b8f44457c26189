"""Payments business logic. Plain async functions with keyword-only arguments; no MCP here.

Each function receives a session opened by `securemcp.tenancy.database.tenant_transaction` (row-level security
already scoped to the tenant) and still filters by `tenant_id` itself: two layers, so a bug in one
leaks nothing. The read tools' statements (`PAYMENT`, `CHARGE`, `*_statement`) are the same SQLModel
queries compiled once for the driver (`securemcp.tenancy.reads`); the tools run them with `caller.read_one/all`.
Amounts are `Decimal` throughout; nothing here ever converts money to float.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from securemcp.ids import new_id
from securemcp.tenancy.reads import ReadStatement, read_statement
from sqlalchemy import bindparam, func, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from servers.payments.models import Charge, Payment, PaymentStatus, Refund


# The list tools' read path (`securemcp.tenancy.reads`): one statement per combination of filters, built on first
# use and kept. The tenant and every value are bound parameters; `limit` is the page size plus one.
@cache
def payments_statement(*, by_status: bool, after: bool) -> ReadStatement[Payment]:
    """Supplier payments, newest first, with the filters asked for."""
    query = (
        select(Payment)
        .where(Payment.tenant_id == bindparam("tenant_id"))
        .order_by(col(Payment.created_at).desc(), col(Payment.id).desc())
        .limit(bindparam("limit"))
    )
    if by_status:
        query = query.where(col(Payment.status) == bindparam("status"))
    if after:
        after_key = tuple_(bindparam("after_created_at"), bindparam("after_id"))
        query = query.where(tuple_(col(Payment.created_at), col(Payment.id)) < after_key)
    return read_statement(query)


@cache
def charges_statement(*, refundable_only: bool, after: bool) -> ReadStatement[Charge]:
    """Customer charges, newest first, optionally only those not fully refunded."""
    query = (
        select(Charge)
        .where(Charge.tenant_id == bindparam("tenant_id"))
        .order_by(col(Charge.created_at).desc(), col(Charge.id).desc())
        .limit(bindparam("limit"))
    )
    if refundable_only:
        query = query.where(col(Charge.refunded) < col(Charge.amount))
    if after:
        after_key = tuple_(bindparam("after_created_at"), bindparam("after_id"))
        query = query.where(tuple_(col(Charge.created_at), col(Charge.id)) < after_key)
    return read_statement(query)


# Built once with bound parameters: composing a statement costs more than running it (measured
# by `supplychain bench`). The tenant is still a parameter of every lookup.
_PAYMENT = select(Payment).where(Payment.tenant_id == bindparam("tenant_id"), Payment.id == bindparam("id"))


PAYMENT: ReadStatement[Payment] = read_statement(_PAYMENT)  # the read tool's path (`securemcp.tenancy.reads`)


async def get_payment(
    *, session: AsyncSession, tenant_id: str, payment_id: str, for_update: bool = False
) -> Payment | None:
    """One payment by id, or None (also for another tenant's id)."""
    query = _PAYMENT.with_for_update() if for_update else _PAYMENT
    return (await session.exec(query, params={"tenant_id": tenant_id, "id": payment_id})).first()


async def release_payment(*, session: AsyncSession, payment: Payment, user_id: str) -> Payment:
    """Mark a pending payment released by `user_id`, stamped with the database's clock."""
    payment.status = PaymentStatus.released
    payment.released_by = user_id
    payment.released_at = func.now()  # type: ignore[assignment]  # one clock: the database's, as for created_at
    session.add(payment)
    await session.flush()
    await session.refresh(payment)
    return payment


_CHARGE = select(Charge).where(Charge.tenant_id == bindparam("tenant_id"), Charge.id == bindparam("id"))


CHARGE: ReadStatement[Charge] = read_statement(_CHARGE)


async def get_charge(
    *, session: AsyncSession, tenant_id: str, charge_id: str, for_update: bool = False
) -> Charge | None:
    """One charge by id, or None (also for another tenant's id).

    With `for_update` the row stays locked until the transaction ends, so two refunds on the same
    charge run one after the other and the second sees the first one's total.
    """
    query = _CHARGE.with_for_update() if for_update else _CHARGE
    return (await session.exec(query, params={"tenant_id": tenant_id, "id": charge_id})).first()


def refundable(charge: Charge) -> Decimal:
    """What can still be refunded on `charge`: its amount minus the refunds so far."""
    return charge.amount - charge.refunded


async def issue_refund(*, session: AsyncSession, charge: Charge, amount: Decimal, user_id: str) -> Refund:
    """Record a refund of `amount` on a charge locked by the caller and add it to the charge's total.

    The caller checks `amount <= refundable(charge)` on the locked row; the table's CHECK
    (refunded <= amount) is the last line if it did not.
    """
    refund = Refund(
        id=new_id("rf"),
        tenant_id=charge.tenant_id,
        charge_id=charge.id,
        amount=amount,
        currency=charge.currency,
        issued_by=user_id,
    )
    charge.refunded = charge.refunded + amount
    session.add_all([refund, charge])
    await session.flush()
    await session.refresh(refund)
    return refund
