"""logistics: destinations, carriers, shipments, tracking events; isolation, grants; the security tables

Revision ID: logistics_0001_initial
Revises:
Create Date: 2026-12-06

The one revision of this server: it replaced the eight of the old chain, `logistics_0001` to `logistics_0700`
(a database migrated by them: docs/upgrading.md).
"""

from alembic import op
from securemcp.schema.tables import create_security_tables
from securemcp.schema.tenancy import grant_schema_usage, isolate_by_tenant

revision = "logistics_0001_initial"
down_revision = None
branch_labels = ("logistics",)
depends_on = None


def upgrade() -> None:
    # Logistics keeps its own list of the warehouses it delivers to: no key reaches into the inventory
    # schema, which this server's credential cannot read anyway.
    op.execute("""
        CREATE TABLE logistics.destinations (
            id        text PRIMARY KEY,
            tenant_id text NOT NULL,
            code      text NOT NULL,
            name      text NOT NULL,
            city      text NOT NULL,
            UNIQUE (tenant_id, code)
        )""")
    op.execute("""
        CREATE TABLE logistics.carriers (
            id        text PRIMARY KEY,
            tenant_id text NOT NULL,
            code      text NOT NULL,
            name      text NOT NULL,
            mode      text NOT NULL CHECK (mode IN ('road', 'rail', 'sea', 'air')),
            UNIQUE (tenant_id, code)
        )""")
    op.execute("""
        CREATE TABLE logistics.shipments (
            id               text PRIMARY KEY,
            tenant_id        text NOT NULL,
            tracking_number  text NOT NULL,
            carrier_code     text NOT NULL,
            origin           text NOT NULL,
            destination_code text NOT NULL,
            status           text NOT NULL
                CHECK (status IN ('created', 'in_transit', 'delayed', 'delivered', 'returned')),
            created_at       timestamptz NOT NULL DEFAULT now(),
            UNIQUE (tenant_id, id),
            FOREIGN KEY (tenant_id, carrier_code) REFERENCES logistics.carriers (tenant_id, code),
            FOREIGN KEY (tenant_id, destination_code) REFERENCES logistics.destinations (tenant_id, code)
        )""")
    op.execute("""
        CREATE TABLE logistics.tracking_events (
            id          text PRIMARY KEY,
            tenant_id   text NOT NULL,
            shipment_id text NOT NULL,
            kind        text NOT NULL CHECK (kind IN ('created', 'picked_up', 'departed', 'arrived',
                                                      'delayed', 'delivered', 'returned', 'rerouted')),
            detail      text NOT NULL,
            location    text,
            recorded_by text,
            occurred_at timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (tenant_id, shipment_id) REFERENCES logistics.shipments (tenant_id, id)
        )""")
    # Indexes lead with tenant_id: every query filters on it first.
    op.execute("CREATE INDEX shipments_tenant_created ON logistics.shipments (tenant_id, created_at DESC, id DESC)")
    op.execute(
        "CREATE INDEX shipments_tenant_status ON logistics.shipments (tenant_id, status, created_at DESC, id DESC)"
    )
    op.execute(
        "CREATE INDEX tracking_events_tenant_shipment "
        "ON logistics.tracking_events (tenant_id, shipment_id, occurred_at DESC, id DESC)"
    )

    for table in ("destinations", "carriers", "shipments", "tracking_events"):
        isolate_by_tenant("logistics", table)

    grant_schema_usage("logistics")
    op.execute("GRANT SELECT ON logistics.destinations, logistics.carriers, logistics.shipments TO logistics_svc")
    # A reroute changes where a shipment goes and nothing else; its history is only ever appended to.
    op.execute("GRANT UPDATE (destination_code) ON logistics.shipments TO logistics_svc")
    op.execute("GRANT SELECT, INSERT ON logistics.tracking_events TO logistics_svc")

    # The tables the library reads and writes: the audit trail, pending approvals, idempotency keys.
    create_security_tables("logistics")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never dropped by a migration")
