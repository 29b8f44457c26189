"""payments: supplier payments, customer charges, refunds; tenant isolation, grants; the security tables

Revision ID: payments_0001_initial
Revises:
Create Date: 2026-12-06

The one revision of this server: it replaced the eight of the old chain, `payments_0001` to `payments_0700`
(a database migrated by them: docs/upgrading.md).
"""

from alembic import op
from securemcp.schema.tables import create_security_tables
from securemcp.schema.tenancy import grant_schema_usage, isolate_by_tenant

revision = "payments_0001_initial"
down_revision = None
branch_labels = ("payments",)
depends_on = None

# Keep in step with securemcp.money.Currency.
CURRENCIES = "('EUR', 'USD', 'GBP')"


def upgrade() -> None:
    op.execute(f"""
        CREATE TABLE payments.payments (
            id            text PRIMARY KEY,
            tenant_id     text NOT NULL,
            supplier_name text NOT NULL,
            invoice_ref   text NOT NULL,
            amount        numeric(14, 2) NOT NULL CHECK (amount > 0),
            currency      char(3) NOT NULL CHECK (currency IN {CURRENCIES}),
            status        text NOT NULL CHECK (status IN ('pending_approval', 'released', 'failed')),
            due_on        date NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            released_by   text,
            released_at   timestamptz,
            UNIQUE (tenant_id, supplier_name, invoice_ref),
            -- A released payment always says who released it and when; the two go together.
            CHECK ((released_by IS NULL) = (released_at IS NULL)),
            CHECK (status <> 'released' OR released_by IS NOT NULL)
        )""")
    op.execute(f"""
        CREATE TABLE payments.charges (
            id            text PRIMARY KEY,
            tenant_id     text NOT NULL,
            customer_name text NOT NULL,
            reference     text NOT NULL,
            amount        numeric(14, 2) NOT NULL CHECK (amount > 0),
            refunded      numeric(14, 2) NOT NULL DEFAULT 0 CHECK (refunded >= 0),
            currency      char(3) NOT NULL CHECK (currency IN {CURRENCIES}),
            created_at    timestamptz NOT NULL DEFAULT now(),
            -- The last line against over-refunding, whatever the code above it does.
            CHECK (refunded <= amount),
            -- Target of the refunds' composite key: same tenant, same charge, same currency.
            UNIQUE (tenant_id, id, currency)
        )""")
    op.execute(f"""
        CREATE TABLE payments.refunds (
            id         text PRIMARY KEY,
            tenant_id  text NOT NULL,
            charge_id  text NOT NULL,
            amount     numeric(14, 2) NOT NULL CHECK (amount > 0),
            currency   char(3) NOT NULL CHECK (currency IN {CURRENCIES}),
            issued_by  text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (tenant_id, charge_id, currency) REFERENCES payments.charges (tenant_id, id, currency)
        )""")
    # Indexes lead with tenant_id: every query filters on it first.
    op.execute("CREATE INDEX payments_tenant_created ON payments.payments (tenant_id, created_at DESC, id DESC)")
    op.execute("CREATE INDEX charges_tenant_created ON payments.charges (tenant_id, created_at DESC, id DESC)")
    op.execute("CREATE INDEX refunds_tenant_charge ON payments.refunds (tenant_id, charge_id)")

    for table in ("payments", "charges", "refunds"):
        isolate_by_tenant("payments", table)

    grant_schema_usage("payments")
    op.execute("GRANT SELECT ON payments.payments, payments.charges, payments.refunds TO payments_svc")
    # Column grants: releasing can change only the release fields, refunding only the refunded total.
    # They also allow the SELECT ... FOR UPDATE that locks the row first.
    op.execute("GRANT UPDATE (status, released_by, released_at) ON payments.payments TO payments_svc")
    op.execute("GRANT UPDATE (refunded) ON payments.charges TO payments_svc")
    op.execute("GRANT INSERT ON payments.refunds TO payments_svc")

    # The tables the library reads and writes: the audit trail, pending approvals, idempotency keys.
    create_security_tables("payments")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never dropped by a migration")
