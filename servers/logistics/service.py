"""Logistics business logic. Plain async functions with keyword-only arguments; no MCP here.

Each function receives a session opened by `securemcp.tenancy.database.tenant_transaction` (row-level security
already scoped to the tenant) and still filters by `tenant_id` itself: two layers, so a bug in one
leaks nothing. The read tools' statements (`SHIPMENT`, `SHIPMENT_EVENTS`, `*_statement`) are the same
SQLModel queries compiled once for the driver (`securemcp.tenancy.reads`); the tools run them with
`caller.read_one/all`.
"""

from __future__ import annotations

from functools import cache

from securemcp.ids import new_id
from securemcp.tenancy.reads import ReadStatement, read_statement
from sqlalchemy import bindparam, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from servers.logistics.models import (
    Carrier,
    Destination,
    EventKind,
    RerouteReason,
    Shipment,
    TrackingEvent,
)


# The list tools' read path (`securemcp.tenancy.reads`): one statement per combination of filters, built on first
# use and kept. The tenant and every value are bound parameters; `limit` is the page size plus one.
@cache
def carriers_statement(*, after: bool) -> ReadStatement[Carrier]:
    """Carriers ordered by code, optionally after `after_code`."""
    query = (
        select(Carrier)
        .where(Carrier.tenant_id == bindparam("tenant_id"))
        .order_by(col(Carrier.code))
        .limit(bindparam("limit"))
    )
    if after:
        query = query.where(col(Carrier.code) > bindparam("after_code"))
    return read_statement(query)


@cache
def shipments_statement(*, by_status: bool, after: bool) -> ReadStatement[Shipment]:
    """Shipments, newest first, with the filters asked for."""
    query = (
        select(Shipment)
        .where(Shipment.tenant_id == bindparam("tenant_id"))
        .order_by(col(Shipment.created_at).desc(), col(Shipment.id).desc())
        .limit(bindparam("limit"))
    )
    if by_status:
        query = query.where(col(Shipment.status) == bindparam("status"))
    if after:
        after_key = tuple_(bindparam("after_created_at"), bindparam("after_id"))
        query = query.where(tuple_(col(Shipment.created_at), col(Shipment.id)) < after_key)
    return read_statement(query)


# Built once with bound parameters: composing a statement costs more than running it (measured
# by `supplychain bench`). The tenant is still a parameter of every lookup.
_SHIPMENT = select(Shipment).where(Shipment.tenant_id == bindparam("tenant_id"), Shipment.id == bindparam("id"))


SHIPMENT: ReadStatement[Shipment] = read_statement(_SHIPMENT)  # the read tool's path (`securemcp.tenancy.reads`)


async def get_shipment(
    *, session: AsyncSession, tenant_id: str, shipment_id: str, for_update: bool = False
) -> Shipment | None:
    """One shipment by id, or None (also for another tenant's id)."""
    query = _SHIPMENT.with_for_update() if for_update else _SHIPMENT
    return (await session.exec(query, params={"tenant_id": tenant_id, "id": shipment_id})).first()


# One shipment's tracking events, newest first; `limit` is how many the tool shows plus one.
SHIPMENT_EVENTS: ReadStatement[TrackingEvent] = read_statement(
    select(TrackingEvent)
    .where(TrackingEvent.tenant_id == bindparam("tenant_id"), TrackingEvent.shipment_id == bindparam("shipment_id"))
    .order_by(col(TrackingEvent.occurred_at).desc(), col(TrackingEvent.id).desc())
    .limit(bindparam("limit"))
)


_DESTINATION = select(Destination).where(
    Destination.tenant_id == bindparam("tenant_id"), Destination.code == bindparam("code")
)


async def get_destination(*, session: AsyncSession, tenant_id: str, code: str) -> Destination | None:
    """One of the tenant's delivery destinations by warehouse code, or None."""
    return (await session.exec(_DESTINATION, params={"tenant_id": tenant_id, "code": code})).first()


async def reroute_shipment(
    *, session: AsyncSession, shipment: Shipment, destination_code: str, reason: RerouteReason, user_id: str
) -> TrackingEvent:
    """Send `shipment` to `destination_code` and append the `rerouted` event that records why and by whom."""
    previous = shipment.destination_code
    shipment.destination_code = destination_code
    session.add(shipment)
    event = TrackingEvent(
        id=new_id("te"),
        tenant_id=shipment.tenant_id,
        shipment_id=shipment.id,
        kind=EventKind.rerouted,
        detail=f"destination {previous} -> {destination_code} (reason: {reason})",
        recorded_by=user_id,
    )
    session.add(event)
    await session.flush()
    await session.refresh(event)
    return event
