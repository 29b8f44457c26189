"""Two functions per server schema that append a batch of audit records in two round trips.

The group commit (`securemcp.audit.batch`) writes the records of many tenants in one transaction. Done
statement by statement, each tenant costs three round trips (tenant and chain lock, previous hash,
insert), so a batch's cost grew with the number of tenants in it (p50 1.65x from 2 to 1,000 tenants).
These functions do the per-tenant steps inside Postgres:

- `audit_chain_heads(tenants)`: for each tenant, in the order given (callers sort them, so two
  transactions never wait for each other's locks in opposite orders), set the tenant, take its chain
  lock, and read its last hash;
- `audit_append(records)`: for each tenant in the batch, set the tenant and insert its records in
  the order given (the hashes were computed by the caller over exactly these values).

Both are SECURITY INVOKER (the default): they run with the server role's own rights, so row-level
security and the insert-only grant still apply to every row. EXECUTE is granted to that role only.
`audit_append` names the columns it writes (`COLUMNS`): a column added to `audit_log` later needs
the function replaced (and `securemcp.audit.records.HASHED_FIELDS` decides whether it is hashed).
"""

from alembic import op

from securemcp.schema.names import schema_name

COLUMNS = (
    "id, tenant_id, occurred_at, request_id, user_id, client_id, actor_kind, transport, tool, arguments, "
    "arguments_sha256, decision, approval_id, outcome, detail, output_bytes, latency_ms, prev_hash, hash, "
    "token_id, token_scope, trace_id, client_address"
)


def create_audit_append_functions(schema: str) -> None:
    """Create (or replace) `<schema>.audit_chain_heads` and `<schema>.audit_append`; EXECUTE for `<schema>_svc` only."""
    schema = schema_name(schema)
    # VOLATILE: each statement inside takes a fresh snapshot, so the lookup after the lock sees the
    # last record committed by anyone. A custom plan for it: a generic plan assumes every tenant is
    # average-sized and scanned the whole log backwards for a new tenant beside a large one.
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {schema}.audit_chain_heads(tenants text[])
        RETURNS TABLE (chain_tenant text, chain_head text)
        LANGUAGE plpgsql VOLATILE
        SET plan_cache_mode = force_custom_plan
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            tenant text;
        BEGIN
            FOREACH tenant IN ARRAY tenants LOOP
                PERFORM set_config('app.tenant_id', tenant, true);
                PERFORM pg_advisory_xact_lock(hashtextextended('{schema}:' || tenant, 0));
                chain_tenant := tenant;
                chain_head := (
                    SELECT a.hash FROM {schema}.audit_log AS a WHERE a.tenant_id = tenant ORDER BY a.seq DESC LIMIT 1
                );
                RETURN NEXT;
            END LOOP;
        END $$""")
    # Insert order is the chain order: rows go in by their position in `records` (`seq`, drawn by the
    # insert trigger, follows it), one tenant at a time under that tenant's setting for the row-level
    # security check.
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {schema}.audit_append(records jsonb)
        RETURNS void
        LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            tenant text;
        BEGIN
            FOR tenant IN SELECT DISTINCT r ->> 'tenant_id' FROM jsonb_array_elements(records) AS r LOOP
                PERFORM set_config('app.tenant_id', tenant, true);
                INSERT INTO {schema}.audit_log ({COLUMNS})
                SELECT {COLUMNS}
                FROM jsonb_populate_recordset(NULL::{schema}.audit_log, records) WITH ORDINALITY AS x
                WHERE x.tenant_id = tenant
                ORDER BY x.ordinality;
            END LOOP;
        END $$""")
    for signature in ("audit_chain_heads(text[])", "audit_append(jsonb)"):
        op.execute(f"REVOKE ALL ON FUNCTION {schema}.{signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {schema}.{signature} TO {schema}_svc")
