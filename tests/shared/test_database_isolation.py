"""Postgres alone enforces the boundaries: tenant row-level security and per-server roles.

These tests connect with each server's own credential and talk SQL directly, with no server code
in the way, so they prove the second layer holds even if the first (the query filter) had a bug.
"""

from __future__ import annotations

import pytest
from securemcp.tenancy.database import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from deployment.registry import SERVERS
from supplychain.admin import admin_engine
from tests.helpers import admin_rows

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
async def pending_approvals(seeded: None, admin_url: str) -> None:
    """One pending approval, idempotency key and page session per tenant on every server: the seed has none."""
    engine = admin_engine(admin_url)
    try:
        async with engine.begin() as conn:
            for server in SERVERS:
                for number, tenant in enumerate(("acme", "globex")):
                    await conn.execute(
                        text(
                            f"INSERT INTO {server}.pending_approvals (id, tenant_id, requested_by, tool, arguments, "
                            "arguments_sha256, summary, level, created_at, expires_at) VALUES (:id, :t, :u, "
                            "'some_tool', '{}'::jsonb, :sha, 'a test request', 'four_eyes', now(), "
                            "now() + interval '15 minutes')"
                        ),
                        {"id": f"ap_{number:020d}", "t": tenant, "u": f"someone@{tenant}", "sha": "0" * 64},
                    )
                    # And one idempotency key (`securemcp.gate.idempotency`), also written only by calls.
                    await conn.execute(
                        text(
                            f"INSERT INTO {server}.idempotency_keys (tenant_id, user_id, tool, key, arguments_sha256, "
                            "result, created_at, expires_at) VALUES (:t, :u, 'some_tool', 'key-12345678', :sha, "
                            "'{}'::jsonb, now(), now() + interval '1 day')"
                        ),
                        {"t": tenant, "u": f"someone@{tenant}", "sha": "0" * 64},
                    )
                    # And one approval-page session (`securemcp.approvals.pages.sessions`), written only at sign-in.
                    await conn.execute(
                        text(
                            f"INSERT INTO {server}.page_sessions (id_sha256, tenant_id, user_id, person_id, roles, "
                            "auth_time, csrf_token, expires_at) VALUES (:h, :t, :u, :p, '[]'::jsonb, now(), 'csrf', "
                            "now() + interval '1 hour')"
                        ),
                        {
                            "h": f"{number}" * 64,
                            "t": tenant,
                            "u": f"someone@{tenant}",
                            "p": f"issuer sub=someone@{tenant}",
                        },
                    )
    finally:
        await engine.dispose()


async def _tables(admin_url: str, schema: str) -> list[str]:
    rows = await admin_rows(
        admin_url,
        "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'audit_log' ORDER BY 1",
        s=schema,
    )
    return [name for (name,) in rows]


@pytest.mark.usefixtures("pending_approvals")
@pytest.mark.parametrize("server", SERVERS)
async def test_with_no_tenant_set_every_table_reads_empty(
    admin_url: str, server_urls: dict[str, str], server: str
) -> None:
    tables = await _tables(admin_url, server)
    assert tables, f"{server} has no tables"
    engine = create_engine(server_urls[server])
    try:
        async with engine.connect() as conn:
            for table in tables:
                total = await admin_rows(admin_url, f"SELECT count(*) FROM {server}.{table}")
                assert total[0][0] > 0, f"fixture data missing in {server}.{table}"
                seen = (await conn.execute(text(f"SELECT count(*) FROM {server}.{table}"))).scalar_one()
                assert seen == 0, f"{server}.{table} leaked {seen} rows with no tenant set"
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("pending_approvals")
@pytest.mark.parametrize("server", SERVERS)
async def test_with_a_tenant_set_only_that_tenants_rows_are_visible(
    admin_url: str, server_urls: dict[str, str], server: str
) -> None:
    engine = create_engine(server_urls[server])
    try:
        async with engine.connect() as conn, conn.begin():
            await conn.execute(text("SELECT set_config('app.tenant_id', 'globex', true)"))
            for table in await _tables(admin_url, server):
                tenants = (await conn.execute(text(f"SELECT DISTINCT tenant_id FROM {server}.{table}"))).scalars().all()
                assert tenants == ["globex"], f"{server}.{table}: {tenants}"
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("pending_approvals")
@pytest.mark.parametrize(
    "column", ["arguments", "tool", "requested_by", "expires_at", "level", "outside_text", "summary"]
)
async def test_the_server_role_cannot_rewrite_a_recorded_approval_request(
    server_urls: dict[str, str], column: str
) -> None:
    engine = create_engine(server_urls["payments"])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied"):
                async with conn.begin():
                    await conn.execute(text("SELECT set_config('app.tenant_id', 'acme', true)"))
                    await conn.execute(text(f"UPDATE payments.pending_approvals SET {column} = {column}"))
    finally:
        await engine.dispose()


async def test_tenant_setting_does_not_survive_into_the_next_transaction_on_a_pooled_connection(
    server_urls: dict[str, str],
) -> None:
    engine = create_engine(server_urls["inventory"], pool_size=1)
    try:
        async with engine.connect() as conn:
            async with conn.begin():
                await conn.execute(text("SELECT set_config('app.tenant_id', 'acme', true)"))
                backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with conn.begin():
                setting = (await conn.execute(text("SELECT current_setting('app.tenant_id', true)"))).scalar_one()
                count = (await conn.execute(text("SELECT count(*) FROM inventory.warehouses"))).scalar_one()
        async with engine.connect() as conn:  # the same pooled connection, checked out again
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() == backend
            again = (await conn.execute(text("SELECT current_setting('app.tenant_id', true)"))).scalar_one()
        assert setting in ("", None) and again in ("", None) and count == 0
    finally:
        await engine.dispose()


@pytest.mark.parametrize("server", SERVERS)
async def test_server_role_is_not_privileged(admin_url: str, server: str) -> None:
    role = f"{server}_svc"
    rows = await admin_rows(
        admin_url,
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolinherit, rolconnlimit, rolconfig "
        "FROM pg_roles WHERE rolname = :r",
        r=role,
    )
    superuser, bypassrls, createrole, createdb, inherit, connlimit, config = rows[0]
    assert (superuser, bypassrls, createrole, createdb, inherit) == (False, False, False, False, False)
    assert 0 < connlimit <= 100
    assert "statement_timeout=5s" in config and "idle_in_transaction_session_timeout=10s" in config
    owned = await admin_rows(admin_url, "SELECT count(*) FROM pg_tables WHERE tableowner = :r", r=role)
    assert owned == [(0,)]
    forced = await admin_rows(
        admin_url,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relkind = 'r' AND NOT (c.relrowsecurity AND c.relforcerowsecurity)",
        s=server,
    )
    assert forced == [], f"tables without forced RLS: {forced}"


@pytest.mark.parametrize(("server", "other"), [(s, o) for s in SERVERS for o in SERVERS if s != o])
async def test_server_role_cannot_touch_another_servers_schema(
    admin_url: str, server_urls: dict[str, str], server: str, other: str
) -> None:
    table = (await _tables(admin_url, other))[0]
    engine = create_engine(server_urls[server])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied for schema"):
                await conn.execute(text(f"SELECT 1 FROM {other}.{table} LIMIT 1"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("function", ["audit_chain_heads(text[])", "audit_append(jsonb)"])
async def test_the_audit_append_functions_run_for_their_own_server_role_only(admin_url: str, function: str) -> None:
    """`migrations/audit_append.py`: EXECUTE revoked from PUBLIC, granted to the schema's own role."""
    for schema in SERVERS:
        rows = await admin_rows(
            admin_url,
            "SELECT r.rolname, has_function_privilege(r.oid, :f, 'EXECUTE') FROM pg_roles r "
            "WHERE r.rolname LIKE '%\\_svc' OR r.rolname = 'pg_monitor' ORDER BY 1",
            f=f"{schema}.{function}",
        )
        allowed = sorted(role for role, may in rows if may)
        assert allowed == [f"{schema}_svc"], (schema, rows)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE {schema}.intruder (id int)",
        "CREATE TABLE public.intruder (id int)",
        "DROP TABLE {schema}.{table}",
        "TRUNCATE {schema}.{table}",
        "ALTER TABLE {schema}.{table} DISABLE ROW LEVEL SECURITY",
        "DELETE FROM {schema}.{table}",
        "SET ROLE supplychain_owner",
    ],
)
async def test_server_role_cannot_run_ddl_or_escape(
    admin_url: str, server_urls: dict[str, str], server: str, statement: str
) -> None:
    table = (await _tables(admin_url, server))[0]
    engine = create_engine(server_urls[server])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
                await conn.execute(text(statement.format(schema=server, table=table)))
    finally:
        await engine.dispose()


async def test_a_wrong_password_is_refused(server_urls: dict[str, str]) -> None:
    wrong = make_url(server_urls["inventory"]).set(password="not-the-password").render_as_string(hide_password=False)
    engine = create_engine(wrong)
    try:
        with pytest.raises(Exception, match="password authentication failed"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def test_secrets_files_are_private_and_hold_only_their_own_server_credential(
    server_urls: dict[str, str],
) -> None:
    from securemcp.settings import server_dsn_file

    for server in SERVERS:
        path = server_dsn_file(server)
        assert path.stat().st_mode & 0o777 == 0o600
        assert make_url(path.read_text().strip()).username == f"{server}_svc"
