"""What the checkpoint tests share: a tenant of their own, audited calls, the CLI, and a superuser's hands."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from securemcp.audit.verify import read_checkpoint_lines
from securemcp.identity.principal import Identity, identity_from_roles
from sqlalchemy import text

from deployment.policy import POLICY
from supplychain.admin import admin_engine
from tests.helpers import admin_rows, mcp_client


def tenant_identity(prefix: str) -> Identity:
    tenant = f"{prefix}-{secrets.token_hex(4)}"
    return identity_from_roles(policy=POLICY, tenant_id=tenant, user_id=f"ana@{tenant}", roles=frozenset({"analyst"}))


async def calls(who: Identity, count: int) -> None:
    """`count` audited calls by `who`; the server's clean shutdown at the end signs its checkpoint."""
    async with mcp_client("inventory", who) as client:
        for _ in range(count):
            await client.call_tool("list_warehouses", {})


async def verify_cli(admin_url: str, *extra: str, database_url: str | None = None) -> tuple[int, str]:
    env = {**os.environ, "SUPPLYCHAIN_ADMIN_DATABASE_URL": database_url or admin_url}
    done = await anyio.run_process(
        [sys.executable, "-m", "supplychain.cli", "audit", "verify", "--server", "inventory", *extra],
        check=False,
        env=env,
    )
    return done.returncode, done.stdout.decode() + done.stderr.decode()


async def as_superuser(admin_url: str, sql: str, **params: Any) -> None:
    """What a superuser can do: switch the append-only triggers off for one session and change the log."""
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET session_replication_role = replica")
            await conn.execute(text(sql), params)
            await conn.exec_driver_sql("RESET session_replication_role")
    finally:
        await engine.dispose()


async def seqs(admin_url: str, tenant: str) -> list[int]:
    sql = "SELECT seq FROM inventory.audit_log WHERE tenant_id = :t ORDER BY seq"
    rows = await admin_rows(admin_url, sql, t=tenant)
    return [seq for (seq,) in rows]


async def delete_tail(admin_url: str, tenant: str, *, keep: int) -> int:
    """As a superuser, delete `tenant`'s records after its first `keep`; the last kept seq."""
    kept = (await seqs(admin_url, tenant))[keep - 1]
    await as_superuser(admin_url, "DELETE FROM inventory.audit_log WHERE tenant_id = :t AND seq > :s", t=tenant, s=kept)
    return kept


def own_lines(sink: Path, tenant: str) -> list[dict[str, Any]]:
    return [line for line in read_checkpoint_lines([sink])[0] if line["tenant"] == tenant]


@asynccontextmanager
async def removed_for_a_while(admin_url: str, seq: int) -> AsyncIterator[None]:
    """As a superuser, delete the record at `seq`; put it back afterwards, so later tests see whole chains."""
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET session_replication_role = replica")
            kept = "CREATE TEMP TABLE kept AS SELECT * FROM inventory.audit_log WHERE seq = :s"
            await conn.execute(text(kept), {"s": seq})
            await conn.execute(text("DELETE FROM inventory.audit_log WHERE seq = :s"), {"s": seq})
            try:
                yield
            finally:
                await conn.exec_driver_sql("INSERT INTO inventory.audit_log OVERRIDING SYSTEM VALUE SELECT * FROM kept")
                await conn.exec_driver_sql("DROP TABLE kept")
                await conn.exec_driver_sql("RESET session_replication_role")
    finally:
        await engine.dispose()
