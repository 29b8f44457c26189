"""Attribution columns on every server's audit log (issue 13, section 4): which token, which trace, from where.

- `token_id`: the token's `jti` (or a SHA-256 prefix of the token when it has none); `local` over stdio;
- `trace_id`: the OpenTelemetry trace id of the call (32 hex digits), when the call had one;
- `token_scope`: the `scope` claim of that token (what a replacement must carry); NULL over stdio;
- `client_address`: the peer address of the HTTP request (the gateway's X-Forwarded-For only when the
  server trusts the gateway, `FORWARDED_ALLOW_IPS`); NULL over stdio.

Older records keep NULL in all four and still verify: `securemcp.audit.chain.record_hash` hashes these fields
only when they hold a value. `audit_append` is replaced to write them.
"""

from alembic import op

from tests.migrations_legacy.audit_append import COLUMNS, create_audit_append_functions

ATTRIBUTION_COLUMNS = f"{COLUMNS}, token_id, token_scope, trace_id, client_address"


def add_attribution(schema: str) -> None:
    op.execute(f"""
        ALTER TABLE {schema}.audit_log
            ADD COLUMN token_id       text CHECK (length(token_id) <= 200),
            ADD COLUMN token_scope    text CHECK (length(token_scope) <= 1000),
            ADD COLUMN trace_id       text CHECK (trace_id ~ '^[0-9a-f]{{32}}$'),
            ADD COLUMN client_address text CHECK (length(client_address) <= 100)""")
    # The leaked-credential playbook looks a token up across tenants (`supplychain incident token`), and
    # `get_activity_log` filters by it within one.
    op.execute(f"CREATE INDEX audit_log_token ON {schema}.audit_log (token_id, seq)")
    create_audit_append_functions(schema, ATTRIBUTION_COLUMNS)


def drop_attribution(schema: str) -> None:
    create_audit_append_functions(schema)
    op.execute(f"DROP INDEX {schema}.audit_log_token")
    columns = ("token_id", "token_scope", "trace_id", "client_address")
    op.execute(f"ALTER TABLE {schema}.audit_log " + ", ".join(f"DROP COLUMN {column}" for column in columns))
