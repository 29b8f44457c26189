"""The pending-approval table of a server schema (`securemcp.approvals.pending` reads and writes it).

A row is one side-effecting call waiting for a person: the request as it was made (who, which tool,
the arguments and their hash, the summary, expiry), the level it must be approved at, and the outside
text its question shows apart from the trusted fields.
"""

from alembic import op

from securemcp.schema.names import schema_name
from securemcp.schema.tenancy import isolate_by_tenant


def create_pending_approvals(schema: str) -> None:
    """`<schema>.pending_approvals`: tenant-isolated; the server role may read and insert, and update only
    the decision columns, so the recorded request (user, tool, arguments, their hash, expiry) never changes.
    """
    schema = schema_name(schema)
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
            result           jsonb,
            level            text NOT NULL CHECK (level IN ('confirm', 'verified', 'four_eyes')),
            outside_text     jsonb NOT NULL DEFAULT '{{}}'::jsonb CHECK (jsonb_typeof(outside_text) = 'object')
        )""")
    op.execute(
        f"CREATE INDEX pending_approvals_tenant_status ON {schema}.pending_approvals (tenant_id, status, created_at)"
    )
    isolate_by_tenant(schema, "pending_approvals")
    op.execute(f"GRANT SELECT, INSERT ON {schema}.pending_approvals TO {schema}_svc")
    op.execute(f"GRANT UPDATE (status, decided_by, decided_at, result) ON {schema}.pending_approvals TO {schema}_svc")


def add_requester_person(schema: str) -> None:
    """`pending_approvals.requested_by_person`: the requester as one person across clients
    (`securemcp.identity.principal.person_id`), what four eyes and `verified` compare. NULL for a local
    (stdio) requester and for rows recorded before it existed: those compare `requested_by` as before."""
    schema = schema_name(schema)
    op.execute(f"ALTER TABLE {schema}.pending_approvals ADD COLUMN requested_by_person text")
