"""Logistics business logic. Plain async functions with keyword-only arguments; no MCP here.

Each function receives a session opened by `shared.db.tenant_transaction` (row-level security
already scoped to the tenant) and still filters by `tenant_id` itself: two layers, so a bug in one
leaks nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from servers.logistics.models import (
    Carrier,
    Destination,
    EventKind,
    RerouteReason,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
)
from shared.ids import new_id


async def list_carriers(*, session: AsyncSession, tenant_id: str, limit: int, after_code: str | None) -> list[Carrier]:
    """Up to `limit + 1` carriers ordered by code, starting after `after_code`."""
    query = select(Carrier).where(Carrier.tenant_id == tenant_id).order_by(col(Carrier.code)).limit(limit + 1)
    if after_code is not None:
        query = query.where(col(Carrier.code) > after_code)
    return list((await session.exec(query)).all())


async def list_shipments(
    *,
    session: AsyncSession,
    tenant_id: str,
    status: ShipmentStatus | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Shipment]:
    """Up to `limit + 1` shipments, newest first, optionally only those with `status`."""
    query = (
        select(Shipment)
        .where(Shipment.tenant_id == tenant_id)
        .order_by(col(Shipment.created_at).desc(), col(Shipment.id).desc())
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(Shipment.status == status)
    if after is not None:
        query = query.where(tuple_(col(Shipment.created_at), col(Shipment.id)) < tuple_(*after))
    return list((await session.exec(query)).all())


# Built once with bound parameters: composing a statement costs more than running it (measured
# by `supplychain bench`). The tenant is still a parameter of every lookup.
_SHIPMENT = select(Shipment).where(Shipment.tenant_id == bindparam("tenant_id"), Shipment.id == bindparam("id"))


async def get_shipment(
    *, session: AsyncSession, tenant_id: str, shipment_id: str, for_update: bool = False
) -> Shipment | None:
    """One shipment by id, or None (also for another tenant's id)."""
    query = _SHIPMENT.with_for_update() if for_update else _SHIPMENT
    return (await session.exec(query, params={"tenant_id": tenant_id, "id": shipment_id})).first()


async def list_events(*, session: AsyncSession, tenant_id: str, shipment_id: str, limit: int) -> list[TrackingEvent]:
    """Up to `limit + 1` tracking events of one shipment, newest first."""
    query = (
        select(TrackingEvent)
        .where(TrackingEvent.tenant_id == tenant_id, TrackingEvent.shipment_id == shipment_id)
        .order_by(col(TrackingEvent.occurred_at).desc(), col(TrackingEvent.id).desc())
        .limit(limit + 1)
    )
    return list((await session.exec(query)).all())


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
