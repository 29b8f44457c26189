"""Logistics data: tables (SQLModel, `table=True`) and what tools return (`...Public`).

Every table carries `tenant_id`; row-level security and the service queries both key on it.
Composite foreign keys include `tenant_id`, so a row can never point at another tenant's row.
Destinations are logistics' own list of the warehouses it delivers to: this schema holds no key into
the inventory schema, because each server reaches only its own schema with its own credential.

A tracking event's detail and location are written by the carrier, outside the organisation. Tools
hand them out only as `UntrustedText` (see `securemcp.untrusted`), so a carrier feed that carries
instructions reaches a model as labelled data (prompt injection through stored records).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from securemcp.tenancy.database import timestamp_column, utc_now
from securemcp.untrusted import UntrustedText
from sqlalchemy import Enum, ForeignKeyConstraint
from sqlmodel import Field, SQLModel

SCHEMA = "logistics"


class CarrierMode(StrEnum):
    road = "road"
    rail = "rail"
    sea = "sea"
    air = "air"


class ShipmentStatus(StrEnum):
    created = "created"
    in_transit = "in_transit"
    delayed = "delayed"
    delivered = "delivered"
    returned = "returned"


# A shipment in one of these states has arrived somewhere for good; it can no longer be rerouted.
FINAL_STATUSES = frozenset({ShipmentStatus.delivered, ShipmentStatus.returned})


class EventKind(StrEnum):
    created = "created"
    picked_up = "picked_up"
    departed = "departed"
    arrived = "arrived"
    delayed = "delayed"
    delivered = "delivered"
    returned = "returned"
    rerouted = "rerouted"


class RerouteReason(StrEnum):
    customer_request = "customer_request"
    warehouse_capacity = "warehouse_capacity"
    carrier_delay = "carrier_delay"
    damage_risk = "damage_risk"


class Destination(SQLModel, table=True):
    __tablename__ = "destinations"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True)
    tenant_id: str
    code: str
    name: str
    city: str


class Carrier(SQLModel, table=True):
    __tablename__ = "carriers"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True)
    tenant_id: str
    code: str
    name: str
    # Stored as text with a CHECK constraint (see the migration), not a native Postgres enum type.
    mode: CarrierMode = Field(sa_type=Enum(CarrierMode, native_enum=False))


class Shipment(SQLModel, table=True):
    __tablename__ = "shipments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "carrier_code"], [f"{SCHEMA}.carriers.tenant_id", f"{SCHEMA}.carriers.code"]
        ),
        ForeignKeyConstraint(
            ["tenant_id", "destination_code"],
            [f"{SCHEMA}.destinations.tenant_id", f"{SCHEMA}.destinations.code"],
        ),
        {"schema": SCHEMA},
    )

    id: str = Field(primary_key=True)
    tenant_id: str
    tracking_number: str
    carrier_code: str
    origin: str
    destination_code: str
    status: ShipmentStatus = Field(sa_type=Enum(ShipmentStatus, native_enum=False))
    created_at: datetime = Field(default_factory=utc_now, sa_column=timestamp_column())


class TrackingEvent(SQLModel, table=True):
    __tablename__ = "tracking_events"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "shipment_id"], [f"{SCHEMA}.shipments.tenant_id", f"{SCHEMA}.shipments.id"]),
        {"schema": SCHEMA},
    )

    id: str = Field(primary_key=True)
    tenant_id: str
    shipment_id: str
    kind: EventKind = Field(sa_type=Enum(EventKind, native_enum=False))
    detail: str
    # A carrier's scan has a place and no person; a reroute decided in an office has a person and no place.
    location: str | None = None
    recorded_by: str | None = None
    occurred_at: datetime = Field(default_factory=utc_now, sa_column=timestamp_column())


class CarrierPublic(BaseModel):
    id: str
    code: str
    name: str
    mode: CarrierMode


class CarrierPage(BaseModel):
    items: list[CarrierPublic]
    next_cursor: str | None


class ShipmentPublic(BaseModel):
    id: str
    tracking_number: str
    carrier: str
    origin: str
    destination: str
    status: ShipmentStatus
    created_at: datetime

    @classmethod
    def of(cls, row: Shipment) -> ShipmentPublic:
        return cls(
            id=row.id,
            tracking_number=row.tracking_number,
            carrier=row.carrier_code,
            origin=row.origin,
            destination=row.destination_code,
            status=row.status,
            created_at=row.created_at,
        )


class ShipmentPage(BaseModel):
    items: list[ShipmentPublic]
    next_cursor: str | None


class TrackingEventPublic(BaseModel):
    """A tracking event. detail and location come from the carrier's scans, so both are untrusted."""

    id: str
    kind: EventKind
    # Also untrusted on the events this server writes itself (reroutes): a field's type says the worst
    # its source can be, not which row it came from.
    detail: UntrustedText
    location: UntrustedText | None
    recorded_by: str | None
    occurred_at: datetime

    @classmethod
    def of(cls, row: TrackingEvent) -> TrackingEventPublic:
        return cls(
            id=row.id,
            kind=row.kind,
            location=None if row.location is None else UntrustedText.of(row.location),
            detail=UntrustedText.of(row.detail),
            recorded_by=row.recorded_by,
            occurred_at=row.occurred_at,
        )


class ShipmentTracking(BaseModel):
    shipment: ShipmentPublic
    events: list[TrackingEventPublic]
    more_events: bool


class ReroutePublic(BaseModel):
    shipment: ShipmentPublic
    previous_destination: str
    event: TrackingEventPublic
