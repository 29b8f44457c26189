"""The append-only audit table every server's migrations create in its own schema."""

from alembic import op

from tests.migrations_legacy.tenancy import isolate_by_tenant


def create_audit_log(schema: str) -> None:
    """`<schema>.audit_log`: tenant-isolated, insert-and-read for the server role, append-only for all."""
    op.execute(f"""
        CREATE TABLE {schema}.audit_log (
            seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id               text NOT NULL UNIQUE,
            tenant_id        text NOT NULL,
            occurred_at      timestamptz NOT NULL,
            request_id       text,
            user_id          text NOT NULL,
            client_id        text NOT NULL,
            actor_kind       text NOT NULL CHECK (actor_kind IN ('mcp', 'cli')),
            transport        text NOT NULL CHECK (transport IN ('stdio', 'http')),
            tool             text NOT NULL,
            arguments        jsonb NOT NULL,
            arguments_sha256 text NOT NULL CHECK (arguments_sha256 ~ '^[0-9a-f]{{64}}$'),
            decision         text NOT NULL
                CHECK (decision IN ('not_required', 'approved', 'declined', 'cancelled', 'unanswerable', 'pending')),
            approval_id      text,
            outcome          text NOT NULL CHECK (outcome IN ('ok', 'refused', 'error')),
            detail           text,
            output_bytes     integer NOT NULL CHECK (output_bytes >= 0),
            latency_ms       integer NOT NULL CHECK (latency_ms >= 0),
            prev_hash        text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{{64}}$'),
            hash             text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{{64}}$')
        )""")
    op.execute(f"CREATE INDEX audit_log_tenant_seq ON {schema}.audit_log (tenant_id, seq)")
    op.execute(f"CREATE INDEX audit_log_tenant_time ON {schema}.audit_log (tenant_id, occurred_at)")
    isolate_by_tenant(schema, "audit_log")
    # The trigger stops updates and deletes by anyone, the owner included; TRUNCATE skips row
    # triggers, so a statement trigger refuses it too. Only a superuser disabling triggers gets
    # past, and the hash chain then shows it (`supplychain audit verify`).
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
