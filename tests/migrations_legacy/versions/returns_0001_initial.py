"""returns: order lines and return authorisations; tenant isolation and the server role's grants

Revision ID: returns_0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

from tests.migrations_legacy.tenancy import grant_schema_usage, isolate_by_tenant

revision = "returns_0001"
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


def downgrade() -> None:
    op.execute("DROP TABLE returns.return_authorisations, returns.order_lines")
