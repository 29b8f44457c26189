"""The idempotency-key table of a server schema (`securemcp.gate.idempotency` reads and writes it)."""

from alembic import op

from securemcp.schema.names import schema_name
from securemcp.schema.tenancy import isolate_by_tenant


def create_idempotency_keys(schema: str) -> None:
    """`<schema>.idempotency_keys`: one row per (tenant, user, tool, key), tenant-isolated.

    The server role reads, inserts, and updates (to reuse a key whose row expired or whose approval was
    denied); it never deletes: expired rows are ignored, and removed by a reseed or an administrator.
    """
    schema = schema_name(schema)
    op.execute(f"""
        CREATE TABLE {schema}.idempotency_keys (
            tenant_id        text NOT NULL,
            user_id          text NOT NULL,
            tool             text NOT NULL,
            key              text NOT NULL CHECK (key ~ '^[A-Za-z0-9_.:-]{{8,128}}$'),
            arguments_sha256 text NOT NULL CHECK (arguments_sha256 ~ '^[0-9a-f]{{64}}$'),
            result           jsonb NOT NULL,
            approval_id      text CHECK (approval_id ~ '^ap_[0-9a-f]{{20}}$'),
            created_at       timestamptz NOT NULL,
            expires_at       timestamptz NOT NULL CHECK (expires_at > created_at),
            PRIMARY KEY (tenant_id, user_id, tool, key)
        )""")
    isolate_by_tenant(schema, "idempotency_keys")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {schema}.idempotency_keys TO {schema}_svc")
