"""The pending-approval table every server's migrations create in its own schema (out-of-band approval)."""

from alembic import op

from tests.migrations_legacy.tenancy import isolate_by_tenant


def create_pending_approvals(schema: str) -> None:
    """`<schema>.pending_approvals`: tenant-isolated; the server role may read and insert, and update only
    the decision columns, so the recorded request (user, tool, arguments, their hash, expiry) never changes.
    """
    op.execute(f"""
        CREATE TABLE {schema}.pending_approvals (
            id               text PRIMARY KEY CHECK (id ~ '^ap_[0-9a-f]{{20}}$'),
            tenant_id        text NOT NULL,
            requested_by     text NOT NULL,
            tool             text NOT NULL,
            arguments        jsonb NOT NULL,
            arguments_sha256 text NOT NULL CHECK (arguments_sha256 ~ '^[0-9a-f]{{64}}$'),
            summary          text NOT NULL,
            created_at       timestamptz NOT NULL,
            expires_at       timestamptz NOT NULL CHECK (expires_at > created_at),
            status           text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'executed')),
            decided_by       text,
            decided_at       timestamptz,
            result           jsonb
        )""")
    op.execute(
        f"CREATE INDEX pending_approvals_tenant_status ON {schema}.pending_approvals (tenant_id, status, created_at)"
    )
    isolate_by_tenant(schema, "pending_approvals")
    op.execute(f"GRANT SELECT, INSERT ON {schema}.pending_approvals TO {schema}_svc")
    op.execute(f"GRANT UPDATE (status, decided_by, decided_at, result) ON {schema}.pending_approvals TO {schema}_svc")


def drop_pending_approvals(schema: str) -> None:
    op.execute(f"DROP TABLE {schema}.pending_approvals")
