"""The pending-approval table of a server schema (`securemcp.approvals.pending` reads and writes it).

A row is one side-effecting call waiting for a person: the request as it was made (who, which tool,
the arguments and their hash, the summary, expiry), the level it must be approved at, and the outside
text its question shows apart from the trusted fields.

It also records the credential that asked (`requester_token_id`, `requester_grant_id`), the
requester's roles then (`requester_roles`) and the role policy's version (`requester_policy_version`):
the run re-checks them (`securemcp.approvals.recheck`),
and an incident finds, holds or voids what a leaked credential asked for. `held_reason` is written only
by the operator (`supplychain incident`): a held approval stays pending and cannot run until released.
A `void` approval ended without running: its grant was revoked, its requester's roles no longer allow
the tool, the role policy changed, its level was raised, or the operator voided it; `void_reason` says which.
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
                CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'executed', 'void')),
            decided_by       text,
            decided_at       timestamptz,
            result           jsonb,
            level            text NOT NULL CHECK (level IN ('confirm', 'verified', 'four_eyes')),
            outside_text     jsonb NOT NULL DEFAULT '{{}}'::jsonb CHECK (jsonb_typeof(outside_text) = 'object'),
            requester_token_id text CHECK (length(requester_token_id) <= 200),
            requester_grant_id text CHECK (length(requester_grant_id) <= 200),
            requester_roles  jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(requester_roles) = 'array'),
            requester_policy_version text CHECK (requester_policy_version ~ '^[0-9a-f]{{16}}$'),
            held_reason      text CHECK (length(held_reason) <= 1000),
            void_reason      text CHECK (length(void_reason) <= 1000),
            CHECK ((status = 'void') = (void_reason IS NOT NULL))
        )""")
    op.execute(
        f"CREATE INDEX pending_approvals_tenant_status ON {schema}.pending_approvals (tenant_id, status, created_at)"
    )
    isolate_by_tenant(schema, "pending_approvals")
    op.execute(f"GRANT SELECT, INSERT ON {schema}.pending_approvals TO {schema}_svc")
    # Not `held_reason`: only the operator holds and releases, so a server cannot release its own hold.
    op.execute(
        f"GRANT UPDATE (status, decided_by, decided_at, result, void_reason) ON {schema}.pending_approvals "
        f"TO {schema}_svc"
    )


def add_requester_person(schema: str) -> None:
    """`pending_approvals.requested_by_person`: the requester as one person across clients
    (`securemcp.identity.principal.person_id`), what four eyes and `verified` compare. NULL for a local
    (stdio) requester and for rows recorded before it existed: those compare `requested_by` as before."""
    schema = schema_name(schema)
    op.execute(f"ALTER TABLE {schema}.pending_approvals ADD COLUMN requested_by_person text")


def add_incident_columns(schema: str) -> None:
    """For a `pending_approvals` made before the requester's credential was recorded: the same columns,
    checks and grants `create_pending_approvals` now makes (the `void` status and its reason, the hold)."""
    schema = schema_name(schema)
    op.execute(f"""ALTER TABLE {schema}.pending_approvals
        ADD COLUMN requester_token_id text CHECK (length(requester_token_id) <= 200),
        ADD COLUMN requester_grant_id text CHECK (length(requester_grant_id) <= 200),
        ADD COLUMN requester_roles jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(requester_roles) = 'array'),
        ADD COLUMN requester_policy_version text CHECK (requester_policy_version ~ '^[0-9a-f]{{16}}$'),
        ADD COLUMN held_reason text CHECK (length(held_reason) <= 1000),
        ADD COLUMN void_reason text CHECK (length(void_reason) <= 1000),
        DROP CONSTRAINT pending_approvals_status_check,
        ADD CONSTRAINT pending_approvals_status_check
            CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'executed', 'void')),
        ADD CHECK ((status = 'void') = (void_reason IS NOT NULL))""")
    op.execute(f"GRANT UPDATE (void_reason) ON {schema}.pending_approvals TO {schema}_svc")
