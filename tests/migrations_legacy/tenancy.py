"""Building blocks every server's migration uses: tenant row-level security and grants."""

from alembic import op


def isolate_by_tenant(schema: str, table: str) -> None:
    """Turn on forced row-level security keyed on `app.tenant_id` for one table.

    FORCE makes the policy apply to the table owner too. With no tenant set, `current_setting(...,
    true)` is NULL or empty, so the table reads empty and every insert fails its check.
    """
    qualified = f"{schema}.{table}"
    op.execute(f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {qualified} "
        "USING (tenant_id = current_setting('app.tenant_id', true)) "
        "WITH CHECK (tenant_id = current_setting('app.tenant_id', true))"
    )


def grant_schema_usage(schema: str) -> None:
    """Let the schema's own server role (and no other) use the schema."""
    op.execute(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA {schema} TO {schema}_svc")
