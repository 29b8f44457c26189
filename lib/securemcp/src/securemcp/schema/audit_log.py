"""The append-only, hash-chained audit table of a server schema (`securemcp.audit` writes and verifies it).

Besides who, which tool, the arguments (redacted, plus their hash), the approval and the outcome, a
record names where the call came from:
- `token_id`: the token's `jti` (or a SHA-256 prefix of the token when it has none); `local` over stdio;
- `token_scope`: the `scope` claim of that token (what a replacement must carry); NULL over stdio;
- `trace_id`: the OpenTelemetry trace id of the call (32 hex digits), when the call had one;
- `client_address`: the peer address of the HTTP request (the gateway's X-Forwarded-For only when the
  server trusts the gateway); NULL over stdio.
`securemcp.audit.chain.record_hash` hashes those four only when they hold a value.

There is no index on `token_id`: each record paid for one in write-ahead log (12-20 % more) while the
leaked-credential lookup (`token_id = X OR client_id = X`) never used it, and the per-tenant token
filter is served by `audit_log_tenant_seq`.
"""

from alembic import op

from securemcp.schema.audit_seq import SEQUENCE, create_audit_seq_trigger
from securemcp.schema.names import schema_name
from securemcp.schema.tenancy import isolate_by_tenant

# Who may write a record: a tool call (`mcp`), a command (`cli`), or the approval page deciding (`page`).
ACTOR_KINDS = "'mcp', 'cli', 'page'"
# A replayed call (same idempotency key) leaves its own record, with decision `replayed`.
DECISIONS = "'not_required', 'approved', 'declined', 'cancelled', 'unanswerable', 'pending', 'replayed', 'void'"


def create_audit_log(schema: str) -> None:
    """`<schema>.audit_log`: tenant-isolated, insert-and-read for the server role, append-only for all, its
    `seq` always drawn from the sequence."""
    schema = schema_name(schema)
    op.execute(f"""
        CREATE TABLE {schema}.audit_log (
            seq              bigint PRIMARY KEY,
            id               text NOT NULL UNIQUE,
            tenant_id        text NOT NULL,
            occurred_at      timestamptz NOT NULL,
            request_id       text,
            user_id          text NOT NULL,
            client_id        text NOT NULL,
            actor_kind       text NOT NULL CHECK (actor_kind IN ({ACTOR_KINDS})),
            transport        text NOT NULL CHECK (transport IN ('stdio', 'http')),
            tool             text NOT NULL,
            arguments        jsonb NOT NULL,
            arguments_sha256 text NOT NULL CHECK (arguments_sha256 ~ '^[0-9a-f]{{64}}$'),
            decision         text NOT NULL CHECK (decision IN ({DECISIONS})),
            approval_id      text,
            outcome          text NOT NULL CHECK (outcome IN ('ok', 'refused', 'error')),
            detail           text,
            output_bytes     integer NOT NULL CHECK (output_bytes >= 0),
            latency_ms       integer NOT NULL CHECK (latency_ms >= 0),
            prev_hash        text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{{64}}$'),
            hash             text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{{64}}$'),
            token_id         text CHECK (length(token_id) <= 200),
            token_scope      text CHECK (length(token_scope) <= 1000),
            trace_id         text CHECK (trace_id ~ '^[0-9a-f]{{32}}$'),
            client_address   text CHECK (length(client_address) <= 100)
        )""")
    # `seq` is not an identity column: an INSERT could choose it (`securemcp.schema.audit_seq` says why).
    op.execute(f"CREATE SEQUENCE {schema}.{SEQUENCE} AS bigint OWNED BY {schema}.audit_log.seq")
    create_audit_seq_trigger(schema)
    op.execute(f"CREATE INDEX audit_log_tenant_seq ON {schema}.audit_log (tenant_id, seq)")
    op.execute(f"CREATE INDEX audit_log_tenant_time ON {schema}.audit_log (tenant_id, occurred_at)")
    isolate_by_tenant(schema, "audit_log")
    # The trigger stops updates and deletes by anyone, the owner included; TRUNCATE skips row
    # triggers, so a statement trigger refuses it too. Only a superuser disabling triggers gets
    # past, and the hash chain then shows it (`securemcp.audit.verify`).
    op.execute(f"""
        CREATE FUNCTION {schema}.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{schema}.audit_log is append-only (% refused)', TG_OP;
        END $$""")
    op.execute(
        f"CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON {schema}.audit_log "
        f"FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_is_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {schema}.audit_log "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_is_append_only()"
    )
    op.execute(f"GRANT SELECT, INSERT ON {schema}.audit_log TO {schema}_svc")


def allow_void_decisions(schema: str) -> None:
    """For an `audit_log` made before approvals could end `void`: the decision check `create_audit_log` now makes."""
    schema = schema_name(schema)
    op.execute(f"""ALTER TABLE {schema}.audit_log
        DROP CONSTRAINT audit_log_decision_check,
        ADD CONSTRAINT audit_log_decision_check CHECK (decision IN ({DECISIONS}))""")
