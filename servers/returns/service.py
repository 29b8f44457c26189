"""Returns business logic. Plain async functions with keyword-only arguments; no MCP here.

Each function receives a session opened by `securemcp.tenancy.database.tenant_transaction` (row-level security
already scoped to the tenant) and still filters by `tenant_id` itself: two layers, so a bug in one
leaks nothing. The read tools' statements (`RETURN`, `returns_statement`) are the same SQLModel queries
compiled once for the driver (`securemcp.tenancy.reads`); the tools run them with `caller.read_one/all`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from securemcp.tenancy.reads import ReadStatement, read_statement
from sqlalchemy import bindparam, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from servers.returns.models import RejectionReason, ReturnAuthorisation, ReturnStatus


# The list tool's read path (`securemcp.tenancy.reads`): one statement per combination of filters, built on first
# use and kept. The tenant and every value are bound parameters; `limit` is the page size plus one.
@cache
def returns_statement(*, by_status: bool, after: bool) -> ReadStatement[ReturnAuthorisation]:
    """Returns, newest first, with the filters asked for."""
    query = (
        select(ReturnAuthorisation)
        .where(ReturnAuthorisation.tenant_id == bindparam("tenant_id"))
        .order_by(col(ReturnAuthorisation.requested_at).desc(), col(ReturnAuthorisation.id).desc())
        .limit(bindparam("limit"))
    )
    if by_status:
        query = query.where(col(ReturnAuthorisation.status) == bindparam("status"))
    if after:
        after_key = tuple_(bindparam("after_requested_at"), bindparam("after_id"))
        query = query.where(tuple_(col(ReturnAuthorisation.requested_at), col(ReturnAuthorisation.id)) < after_key)
    return read_statement(query)


# Built once with bound parameters: composing a statement costs more than running it (measured
# by `supplychain bench`). The tenant is still a parameter of every lookup.
_RETURN = select(ReturnAuthorisation).where(
    ReturnAuthorisation.tenant_id == bindparam("tenant_id"), ReturnAuthorisation.id == bindparam("id")
)


RETURN: ReadStatement[ReturnAuthorisation] = read_statement(_RETURN)  # the read tool's path (`securemcp.tenancy.reads`)


async def get_return(
    *, session: AsyncSession, tenant_id: str, return_id: str, for_update: bool = False
) -> ReturnAuthorisation | None:
    """One return by id, or None (also for another tenant's id)."""
    query = _RETURN.with_for_update() if for_update else _RETURN
    return (await session.exec(query, params={"tenant_id": tenant_id, "id": return_id})).first()


async def approve_return(*, session: AsyncSession, rma: ReturnAuthorisation, user_id: str) -> ReturnAuthorisation:
    """Mark a requested return approved by `user_id`, now."""
    return await _decide(session=session, rma=rma, user_id=user_id, status=ReturnStatus.approved, reason=None)


async def reject_return(
    *, session: AsyncSession, rma: ReturnAuthorisation, user_id: str, reason: RejectionReason
) -> ReturnAuthorisation:
    """Mark a requested return rejected by `user_id`, now, for `reason`."""
    return await _decide(session=session, rma=rma, user_id=user_id, status=ReturnStatus.rejected, reason=reason)


async def _decide(
    *,
    session: AsyncSession,
    rma: ReturnAuthorisation,
    user_id: str,
    status: ReturnStatus,
    reason: RejectionReason | None,
) -> ReturnAuthorisation:
    # Exactly the columns the server role may update (column-level grant in the migration).
    rma.status = status
    rma.decided_by = user_id
    rma.decided_at = datetime.now(UTC)
    rma.rejection_reason = reason
    session.add(rma)
    await session.flush()
    return rma
