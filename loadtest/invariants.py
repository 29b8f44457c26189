"""What must hold after the load, each a named check with the numbers behind it.

Read with the admin credential (row-level security bypassed), only records written since the load began.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from securemcp.audit.chain import verify_chains
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from deployment.registry import SERVERS
from loadtest.agents import Tally
from loadtest.environment import Environment
from supplychain.admin import admin_engine

TENANTS = ("acme", "globex")
RSS_GROWTH_ALLOWED = 1.5  # after / before, per server process
POOL_CONNECTIONS = 5  # per server process (ServerSettings.pool_size): the most each may keep open


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Resources:
    rss: dict[str, int]  # server -> bytes (its processes and their children)
    processes: dict[str, int]  # server -> how many processes serve it
    sockets: dict[str, int]  # server -> open TCP connections
    database_connections: int


async def resources(env: Environment) -> Resources:
    rss, sockets = {}, {}
    for name, processes in env.server_processes().items():
        tree = [p for process in processes for p in (process, *process.children(recursive=True))]
        rss[name] = sum(p.memory_info().rss for p in tree)
        sockets[name] = sum(len(p.net_connections(kind="tcp")) for p in tree)
    engine = admin_engine(env.admin_url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'supplychain-mcp'")
            )
    finally:
        await engine.dispose()
    counts = {name: len(group) for name, group in env.server_processes().items()}
    return Resources(rss=rss, processes=counts, sockets=sockets, database_connections=int(count or 0))


async def database_now(admin_url: str) -> datetime:
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            now: datetime = await conn.scalar(text("SELECT clock_timestamp()"))
            return now
    finally:
        await engine.dispose()


async def _owners(conn: AsyncConnection) -> dict[str, str]:
    """id -> tenant for every row of every table that has both (all four schemas, audit trail included)."""
    tables = await conn.execute(
        text(
            "SELECT table_schema, table_name FROM information_schema.columns WHERE column_name IN ('id', 'tenant_id') "
            "AND table_schema = ANY(:schemas) GROUP BY 1, 2 HAVING count(*) = 2"
        ),
        {"schemas": list(SERVERS)},
    )
    owners: dict[str, str] = {}
    for schema, table in tables.all():
        rows = await conn.execute(text(f'SELECT id, tenant_id FROM {schema}."{table}"'))  # noqa: S608 (catalog names)
        owners.update({str(row_id): str(tenant) for row_id, tenant in rows})
    return owners


async def _scalar(conn: AsyncConnection, sql: str, **params: Any) -> int:
    return int(await conn.scalar(text(sql), params) or 0)


async def check_database(env: Environment, tally: Tally, since: datetime) -> list[Check]:
    checks: list[Check] = []
    engine = admin_engine(env.admin_url)
    try:
        async with engine.connect() as conn:
            owners = await _owners(conn)
            foreign = {
                tenant: sorted(v for v in tally.shown[tenant] if owners.get(v, tenant) != tenant) for tenant in TENANTS
            }
            wrong_fields = {tenant: sorted(tally.tenant_fields[tenant] - {tenant}) for tenant in TENANTS}
            shown = sum(len(tally.shown[t]) for t in TENANTS)
            checks.append(Check(
                "every returned record belongs to the caller's tenant",
                not any(foreign.values()) and not any(wrong_fields.values()),
                f"{shown} distinct ids shown; foreign: {foreign}; foreign tenant_id fields: {wrong_fields}",
            ))  # fmt: skip
            mismatches = []
            for schema in SERVERS:
                for tenant in TENANTS:
                    records = await _scalar(
                        conn,
                        f"SELECT count(*) FROM {schema}.audit_log WHERE tenant_id = :t AND occurred_at >= :since",  # noqa: S608
                        t=tenant, since=since,
                    )  # fmt: skip
                    calls = tally.tool_calls[(tenant, schema)]
                    if records != calls:
                        mismatches.append(f"{schema}/{tenant}: {calls} calls, {records} records")
            checks.append(Check(
                "audit records equal the calls made, per tenant and server",
                not mismatches,
                f"{sum(tally.tool_calls.values())} calls answered; mismatches: {mismatches or 'none'}",
            ))  # fmt: skip
            duplicated = await _scalar(
                conn,
                "SELECT count(*) FROM (SELECT quantity FROM inventory.reorders WHERE created_at >= :since "
                "GROUP BY tenant_id, quantity HAVING count(*) > 1) AS twice",
                since=since,
            )
            replayed = 0
            for schema in SERVERS:
                replayed += await _scalar(
                    conn,
                    f"SELECT count(*) FROM {schema}.audit_log WHERE decision = 'replayed' AND occurred_at >= :since",  # noqa: S608
                    since=since,
                )
            checks.append(Check(
                "no duplicate side effect from retries",
                duplicated == 0 and not tally.retry_mismatches and replayed == tally.retries,
                f"{tally.retries} writes retried with their idempotency key, {replayed} answered from the key; "
                f"reorders written twice: {duplicated}; differing answers: {tally.retry_mismatches[:3] or 'none'}",
            ))  # fmt: skip
        verified, broken = 0, []
        for schema in SERVERS:
            checked, links = await verify_chains(engine, schema)
            verified += checked
            broken += links
        checks.append(
            Check("every audit chain verifies", not broken, f"{verified} records verified; broken: {broken[:3]}")
        )
    finally:
        await engine.dispose()
    return checks


def check_http(tally: Tally) -> list[Check]:
    server_errors = sum(count for status, count in tally.statuses.items() if status >= 500)
    return [
        Check("zero 5xx", server_errors == 0, f"HTTP statuses: {dict(sorted(tally.statuses.items()))}"),
        Check(
            "no transport failure",
            not tally.transport_errors,
            f"{len(tally.transport_errors)} agents failed: {tally.transport_errors[:3] or 'none'}",
        ),
    ]


def check_resources(before: Resources, after: Resources) -> list[Check]:
    grown = {n: f"{before.rss[n] / 2**20:.0f}->{after.rss[n] / 2**20:.0f} MiB" for n in SERVERS}
    rss_ok = all(after.rss[n] <= before.rss[n] * RSS_GROWTH_ALLOWED for n in SERVERS)
    sockets = {n: f"{before.sockets[n]}->{after.sockets[n]}" for n in SERVERS}
    sockets_ok = all(after.sockets[n] <= before.sockets[n] + 2 for n in SERVERS)
    pools = sum(after.processes.values()) * POOL_CONNECTIONS
    return [
        Check(f"RSS back near its start (at most x{RSS_GROWTH_ALLOWED})", rss_ok, f"RSS {grown}"),
        Check("open connections back near their start", sockets_ok and after.database_connections <= pools,
              f"server TCP connections {sockets}; Postgres connections {before.database_connections}->"
              f"{after.database_connections} (pools hold at most {pools})"),
    ]  # fmt: skip
