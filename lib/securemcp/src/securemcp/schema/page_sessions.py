"""The approval pages' sessions of a server schema (`securemcp.approvals.pages.sessions` reads and writes it).

A row is one signed-in person on the pages: who (tenant, user, person, roles), when they authenticated
at the IdP, the session's CSRF token, and when the session ends. The browser's cookie holds only a
random session id; the row is keyed by its SHA-256, so a database reader learns no usable cookie.

Row-level security: the tenant policy of every table, plus one more: a row is visible to a transaction
that names its id's hash in `app.page_session`. Reading a session needs the cookie, not the tenant
(which the cookie no longer carries); every other use (sign-out everywhere, clean-up) is per tenant.
"""

from alembic import op

from securemcp.schema.names import schema_name
from securemcp.schema.tenancy import isolate_by_tenant


def create_page_sessions(schema: str) -> None:
    """`<schema>.page_sessions`: the server role may read, insert and delete rows, never change one."""
    schema = schema_name(schema)
    op.execute(f"""
        CREATE TABLE {schema}.page_sessions (
            id_sha256  text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{{64}}$'),
            tenant_id  text NOT NULL,
            user_id    text NOT NULL,
            person_id  text NOT NULL,
            roles      jsonb NOT NULL CHECK (jsonb_typeof(roles) = 'array'),
            auth_time  timestamptz NOT NULL,
            csrf_token text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL CHECK (expires_at > created_at)
        )""")
    op.execute(f"CREATE INDEX page_sessions_tenant_person ON {schema}.page_sessions (tenant_id, person_id)")
    isolate_by_tenant(schema, "page_sessions")
    op.execute(
        f"CREATE POLICY session_by_id ON {schema}.page_sessions "
        "USING (id_sha256 = current_setting('app.page_session', true)) "
        "WITH CHECK (id_sha256 = current_setting('app.page_session', true))"
    )
    op.execute(f"GRANT SELECT, INSERT, DELETE ON {schema}.page_sessions TO {schema}_svc")
