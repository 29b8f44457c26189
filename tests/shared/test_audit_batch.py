"""Group commit of the audit records of calls that change nothing (`securemcp.audit.batch`).

Concurrent reads of one tenant share transactions for their records (fewer inserting transactions
than records, seen in each row's `xmin`), the chain stays linear and verifiable, every call still
has exactly one record, and a batch that cannot be written fails every call in it.
"""

from __future__ import annotations

from typing import Any

import anyio
import asyncpg
import pytest
from securemcp.audit.batch import AuditBatcher
from securemcp.identity.principal import identity_from_roles
from securemcp.runtime.unit_of_work import CallUnitOfWork
from securemcp.tenancy.database import create_engine

from deployment.policy import POLICY
from supplychain.admin import admin_engine
from tests.helpers import admin_rows, mcp_client, verify_audit

pytestmark = pytest.mark.usefixtures("seeded")
CALLS = 30


async def _last_seq(admin_url: str) -> int:
    return (await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log"))[0][0]


async def test_concurrent_reads_of_a_tenant_share_commits_and_keep_one_chain(admin_url: str) -> None:
    start = await _last_seq(admin_url)
    results = []

    async def read() -> None:
        results.append(await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"}))

    async with mcp_client("inventory", "alice@acme") as client, anyio.create_task_group() as group:
        for _ in range(CALLS):
            group.start_soon(read)
    assert [result.is_error for result in results] == [False] * CALLS
    rows = await admin_rows(
        admin_url,
        "SELECT count(*), count(DISTINCT xmin::text), min(tool), max(tool), min(outcome), max(outcome) "
        "FROM inventory.audit_log WHERE seq > :s AND tenant_id = 'acme'",
        s=start,
    )
    records, transactions, *tools_and_outcomes = rows[0]
    assert records == CALLS and tools_and_outcomes == ["get_stock_level", "get_stock_level", "ok", "ok"]
    assert transactions < records  # grouped: some transactions carried several records
    checked, broken = await verify_audit(admin_url, "inventory")
    assert broken == [] and checked >= CALLS


async def test_if_the_batch_cannot_be_written_every_read_in_it_fails(admin_url: str) -> None:
    start = await _last_seq(admin_url)
    engine = admin_engine(admin_url)
    results = []

    async def read() -> None:
        results.append(await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"}))

    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("REVOKE INSERT ON inventory.audit_log FROM inventory_svc")
        async with mcp_client("inventory", "alice@acme") as client, anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(read)
    finally:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("GRANT INSERT ON inventory.audit_log TO inventory_svc")
        await engine.dispose()
    assert [result.is_error for result in results] == [True] * 5
    assert {result.content[0].text for result in results} == {
        "get_stock_level could not be recorded in the audit trail; nothing changed"
    }
    assert await _last_seq(admin_url) == start


async def test_records_of_different_tenants_share_a_commit_and_keep_separate_chains(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    """One server process serves many tenants: its batcher writes their records in one transaction."""
    start = await _last_seq(admin_url)
    engine = create_engine(server_urls["inventory"])
    batcher = AuditBatcher(engine)

    def record(user: str, tenant: str) -> dict[str, Any]:
        identity = identity_from_roles(policy=POLICY, tenant_id=tenant, user_id=user, roles=frozenset({"analyst"}))
        call = CallUnitOfWork(
            schema="inventory", tool="list_warehouses", arguments={}, identity=identity, transport="http",
            request_id=None, side_effect=False,
        )  # fmt: skip
        return call.record(outcome="ok", detail=None, output_bytes=0)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(CALLS):
                group.start_soon(batcher.append, "inventory", record("ana@acme", "acme"))
                group.start_soon(batcher.append, "inventory", record("gwen@globex", "globex"))
    finally:
        await engine.dispose()
    mixed = await admin_rows(
        admin_url,
        "SELECT count(*) FROM (SELECT xmin::text FROM inventory.audit_log WHERE seq > :s "
        "GROUP BY xmin::text HAVING count(DISTINCT tenant_id) = 2) AS mixed",
        s=start,
    )
    assert mixed[0][0] > 0  # at least one commit carried both tenants' records
    assert await _last_seq(admin_url) - start == 2 * CALLS
    _checked, broken = await verify_audit(admin_url, "inventory")
    assert broken == []


async def test_argument_values_json_cannot_hold_are_stored_as_the_text_they_were_hashed_as(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    """Arguments recorded from elsewhere than a JSON request (say, Decimal money) still chain and verify."""
    from datetime import UTC, datetime
    from decimal import Decimal

    start = await _last_seq(admin_url)
    engine = create_engine(server_urls["inventory"])
    identity = identity_from_roles(policy=POLICY, tenant_id="acme", user_id="ana@acme", roles=frozenset({"analyst"}))
    arguments = {"amount": Decimal("12.50"), "at": datetime(2026, 11, 22, tzinfo=UTC)}
    call = CallUnitOfWork(
        schema="inventory", tool="list_warehouses", arguments=arguments, identity=identity, transport="http",
        request_id=None, side_effect=False,
    )  # fmt: skip
    try:
        await AuditBatcher(engine).append("inventory", call.record(outcome="ok", detail=None, output_bytes=0))
    finally:
        await engine.dispose()
    stored = await admin_rows(admin_url, "SELECT arguments FROM inventory.audit_log WHERE seq > :s", s=start)
    assert stored == [({"amount": "12.50", "at": "2026-11-22 00:00:00+00:00"},)]
    _checked, broken = await verify_audit(admin_url, "inventory")
    assert broken == []


async def test_a_batcher_goes_with_its_engine(server_urls: dict[str, str]) -> None:
    """`batcher_for` keeps one batcher per engine without keeping the engine (and its pool) alive."""
    import gc
    import weakref

    from securemcp.audit.batch import batcher_for

    engine = create_engine(server_urls["inventory"])
    batcher = weakref.ref(batcher_for(engine))
    gone = weakref.ref(engine)
    await engine.dispose()
    del engine
    gc.collect()
    assert gone() is None
    assert batcher() is None  # its entry in `_batchers` left with it


async def test_a_record_postgres_refuses_fails_only_its_own_call(admin_url: str, server_urls: dict[str, str]) -> None:
    """A batch Postgres refuses is retried record by record: the neighbours of a bad record still commit."""
    from sqlalchemy.exc import DBAPIError

    start = await _last_seq(admin_url)
    engine = create_engine(server_urls["inventory"])
    batcher = AuditBatcher(engine)

    def record(user: str, tenant: str, output_bytes: int) -> dict[str, Any]:
        identity = identity_from_roles(policy=POLICY, tenant_id=tenant, user_id=user, roles=frozenset({"analyst"}))
        call = CallUnitOfWork(
            schema="inventory", tool="list_warehouses", arguments={}, identity=identity, transport="http",
            request_id=None, side_effect=False,
        )  # fmt: skip
        return {**call.record(outcome="ok", detail=None, output_bytes=0), "output_bytes": output_bytes}

    outcomes: dict[str, str] = {}

    async def append(label: str, entry: dict[str, Any]) -> None:
        try:
            await batcher.append("inventory", entry)
            outcomes[label] = "committed"
        except (DBAPIError, asyncpg.PostgresError) as failure:
            outcomes[label] = type(failure).__name__

    try:
        async with anyio.create_task_group() as group:  # appended together, so written as one batch first
            group.start_soon(append, "acme", record("ana@acme", "acme", 10))
            group.start_soon(append, "bad", record("ana@acme", "acme", -1))  # breaks output_bytes >= 0
            group.start_soon(append, "globex", record("gwen@globex", "globex", 10))
    finally:
        await engine.dispose()
    assert outcomes == {"acme": "committed", "bad": "CheckViolationError", "globex": "committed"}
    rows = await admin_rows(admin_url, "SELECT tenant_id FROM inventory.audit_log WHERE seq > :s ORDER BY 1", s=start)
    assert rows == [("acme",), ("globex",)]
    assert (await verify_audit(admin_url, "inventory"))[1] == []
