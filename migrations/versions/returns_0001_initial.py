"""returns: order lines and return authorisations; tenant isolation, grants; the library's security tables

Revision ID: returns_0001_initial
Revises:
Create Date: 2026-12-06

The one revision of this server: it replaced the eight of the old chain, `returns_0001` to `returns_0700`
(a database migrated by them: docs/upgrading.md).
"""

from alembic import op
from securemcp.schema.tables import create_security_tables
from securemcp.schema.tenancy import grant_schema_usage, isolate_by_tenant

revision = "returns_0001_initial"
down_revision = None
branch_labels = ("returns",)
depends_on = None


def upgrade() -> None:
    # Order references and SKUs are shape-checked here as well as in the tools: they are the only
    # record text that reaches a human's approval prompt, so they must never carry prose.
    op.execute("""
        CREATE TABLE returns.order_lines (
            id              text PRIMARY KEY,
            tenant_id       text NOT NULL,
            order_reference text NOT NULL CHECK (order_reference ~ '^SO-[0-9]{4,10}$'),
            sku             text NOT NULL CHECK (sku ~ '^[A-Z0-9][A-Z0-9-]{1,31}$'),
            description     text NOT NULL,
            quantity        integer NOT NULL CHECK (quantity > 0),
            delivered_at    timestamptz NOT NULL,
            UNIQUE (tenant_id, order_reference, sku)
        )""")
    op.execute("""
        CREATE TABLE returns.return_authorisations (
            id               text PRIMARY KEY,
            tenant_id        text NOT NULL,
            order_reference  text NOT NULL,
            sku              text NOT NULL,
            quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
            status           text NOT NULL
                CHECK (status IN ('requested', 'approved', 'rejected', 'received', 'refunded')),
            customer_note    text CHECK (length(customer_note) <= 2000),
            requested_at     timestamptz NOT NULL DEFAULT now(),
            decided_by       text,
            decided_at       timestamptz,
            rejection_reason text CHECK (rejection_reason IN
                ('outside_return_window', 'item_not_eligible', 'damaged_by_customer', 'duplicate_request')),
            -- A decision is recorded whole or not at all, and only a rejection carries a reason.
            CHECK ((status = 'requested') = (decided_by IS NULL)),
            CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
            CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL)),
            FOREIGN KEY (tenant_id, order_reference, sku)
                REFERENCES returns.order_lines (tenant_id, order_reference, sku)
        )""")
    # Indexes lead with tenant_id: every query filters on it first.
    op.execute(
        "CREATE INDEX return_authorisations_tenant_requested "
        "ON returns.return_authorisations (tenant_id, requested_at DESC, id DESC)"
    )

    for table in ("order_lines", "return_authorisations"):
        isolate_by_tenant("returns", table)

    grant_schema_usage("returns")
    # The server only reads and decides: returns are created by the shop, never through MCP.
    op.execute("GRANT SELECT ON returns.order_lines, returns.return_authorisations TO returns_svc")
    op.execute(
        "GRANT UPDATE (status, decided_by, decided_at, rejection_reason) "
        "ON returns.return_authorisations TO returns_svc"
    )

    # The tables the library reads and writes: the audit trail, pending approvals, idempotency keys.
    create_security_tables("returns")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never dropped by a migration")
