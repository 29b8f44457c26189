"""inventory: warehouses, stock levels, reorders; tenant isolation and the server role's grants

Revision ID: inventory_0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

from tests.migrations_legacy.tenancy import grant_schema_usage, isolate_by_tenant

revision = "inventory_0001"
down_revision = None
branch_labels = ("inventory",)
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE inventory.warehouses (
            id        text PRIMARY KEY,
            tenant_id text NOT NULL,
            code      text NOT NULL,
            name      text NOT NULL,
            city      text NOT NULL,
            UNIQUE (tenant_id, code)
        )""")
    op.execute("""
        CREATE TABLE inventory.stock_levels (
            id               text PRIMARY KEY,
            tenant_id        text NOT NULL,
            warehouse_code   text NOT NULL,
            sku              text NOT NULL,
            description      text NOT NULL,
            on_hand          integer NOT NULL CHECK (on_hand >= 0),
            reserved         integer NOT NULL CHECK (reserved >= 0),
            reorder_point    integer NOT NULL CHECK (reorder_point >= 0),
            reorder_quantity integer NOT NULL CHECK (reorder_quantity > 0),
            UNIQUE (tenant_id, warehouse_code, sku),
            FOREIGN KEY (tenant_id, warehouse_code) REFERENCES inventory.warehouses (tenant_id, code)
        )""")
    op.execute("""
        CREATE TABLE inventory.reorders (
            id             text PRIMARY KEY,
            tenant_id      text NOT NULL,
            warehouse_code text NOT NULL,
            sku            text NOT NULL,
            quantity       integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
            status         text NOT NULL CHECK (status IN ('open', 'cancelled', 'received')),
            requested_by   text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            cancelled_by   text,
            FOREIGN KEY (tenant_id, warehouse_code, sku)
                REFERENCES inventory.stock_levels (tenant_id, warehouse_code, sku)
        )""")
    # Indexes lead with tenant_id: every query filters on it first.
    op.execute("CREATE INDEX reorders_tenant_created ON inventory.reorders (tenant_id, created_at DESC, id DESC)")

    for table in ("warehouses", "stock_levels", "reorders"):
        isolate_by_tenant("inventory", table)

    grant_schema_usage("inventory")
    op.execute("GRANT SELECT ON inventory.warehouses, inventory.stock_levels TO inventory_svc")
    op.execute("GRANT SELECT, INSERT ON inventory.reorders TO inventory_svc")
    op.execute("GRANT UPDATE (status, cancelled_by) ON inventory.reorders TO inventory_svc")


def downgrade() -> None:
    op.execute("DROP TABLE inventory.reorders, inventory.stock_levels, inventory.warehouses")
