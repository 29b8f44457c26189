"""The benchmark's smallest case end to end: real servers, real tokens, and answers that are checked.

Runs against the session's database (synthetic `bench-*` tenants, removed afterwards), with the
benchmark's own start-up code for the dev IdP, our inventory server and the bare MCPServer, and
its load generator. Nothing here asserts speed: only that calls complete, that every answer is
checked (a changed row turns calls into errors), and that the approval round trip is answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bench.environment import BenchDatabase
from bench.measure import measure
from bench.processes import Cores
from bench.targets import Context, bare_server, dev_idp, secured_server
from bench.workloads import approved_reorders, stock_reads
from supplychain.processes import free_port

pytestmark = pytest.mark.slow
ROWS = 50


@pytest.fixture
async def context(
    admin_url: str, server_urls: dict[str, str], supplychain_home: Path, tmp_path: Path
) -> AsyncIterator[Context]:
    database = BenchDatabase(home=supplychain_home, admin_url=admin_url)
    await database.load(tenants=2, rows_per_tenant=ROWS)
    try:
        yield Context(database=database, cores=Cores(server=None, client=None), logs=tmp_path)
    finally:
        await database.load(tenants=0, rows_per_tenant=0)


async def test_a_bare_server_is_measured_and_every_answer_checked(context: Context) -> None:
    with bare_server(context, "mcp") as endpoint:
        workload = stock_reads(endpoint, tenants=1, rows_per_tenant=ROWS)
        measured = await measure(workload, clients=4, warmup=0.2, duration=1.0)
        assert measured.errors == 0, measured.first_error
        assert measured.calls > 0 and measured.server_rss_mb and measured.server_rss_mb > 0

        admin = await asyncpg.connect(context.database.asyncpg_admin_dsn)
        try:
            await admin.execute(
                "UPDATE inventory.stock_levels SET on_hand = on_hand + 1 WHERE tenant_id LIKE 'bench-%'"
            )
        finally:
            await admin.close()
        changed = await measure(workload, clients=1, warmup=0.1, duration=1.0)
        assert changed.calls == 0 and changed.errors > 0
        assert changed.first_error is not None and "wrong row" in changed.first_error


async def _bench_reorders(context: Context) -> int:
    admin = await asyncpg.connect(context.database.asyncpg_admin_dsn)
    try:
        count: int = await admin.fetchval("SELECT count(*) FROM inventory.reorders WHERE tenant_id LIKE 'bench-%'")
        return count
    finally:
        await admin.close()


async def test_our_server_answers_reads_and_approved_writes_with_real_tokens(context: Context) -> None:
    before = await _bench_reorders(context)
    port = free_port()
    with (
        dev_idp(context, {"inventory": f"http://127.0.0.1:{port}/mcp"}) as issuer,
        secured_server(context, issuer, port) as endpoint,
    ):
        reads = await measure(
            stock_reads(endpoint, tenants=2, rows_per_tenant=ROWS), clients=2, warmup=0.2, duration=1.0
        )
        assert reads.errors == 0, reads.first_error
        assert reads.calls > 0
        writes = approved_reorders(endpoint, tenants=2, rows_per_tenant=ROWS)
        written = await measure(writes, clients=1, warmup=0.1, duration=1.0)
        assert written.errors == 0, written.first_error
        assert written.calls > 0

    # Every approved call left its reorder (warm-up calls too, so at least as many as were measured).
    assert await _bench_reorders(context) - before >= written.calls
