"""CPU per call, without the load generator's noise: `uv run python -m bench.percall [--calls N] [--clients C]`.

Throughput on a shared two-core machine moves by tens of per cent from one minute to the next; the
work done per call does not. This script builds the inventory server in this process (as a stdio
deployment does: the local identity, no HTTP, no token), on the benchmark's own database, and calls
`get_stock_level` N times from C in-memory MCP clients, one call each at a time. It prints per call:
- the CPU time of this process (server and in-memory client together) and of Postgres (`psutil`);
- the Python function calls made (`sys.setprofile`, a second pass): a count that load does not change;
- the transactions committed in Postgres (`pg_stat_database`), so a WAL flush shared or saved shows.
Run it on two commits and compare; CHANGELOG.md (2026-12-02) lists what it gave.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from mcp import Client
from securemcp.identity.principal import identity_from_roles

from bench.environment import bench_process_environment, postgres_pids, start_database, stop_database
from deployment.policy import POLICY
from supplychain.servers import load_settings, server_for

ARGUMENTS = {"sku": "BOLT-M8", "warehouse": "AMS-1"}


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU time (user and system) used so far by `processes` and their children (also `bench.profile`'s)."""
    total = 0.0
    for process in processes:
        for member in [process, *process.children(recursive=True)]:
            try:
                times = member.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


async def _calls(clients: list[Client], calls: int) -> None:
    async def one(client: Client, count: int) -> None:
        for _ in range(count):
            result = await client.call_tool("get_stock_level", ARGUMENTS)
            if result.is_error:
                raise RuntimeError(f"get_stock_level failed: {result.content}")

    await asyncio.gather(*(one(client, calls // len(clients)) for client in clients))


async def transactions_committed(dsn: str) -> int:
    """Transactions committed in the database so far (`pg_stat_database`), this query's own left out."""
    connection = await asyncpg.connect(dsn)
    try:
        # The statistics collector reports at transaction end; a fresh snapshot is taken per call here.
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        value = await connection.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return int(value) - 1  # this query's own transaction
    finally:
        await connection.close()


def _counting() -> tuple[Callable[..., Any], list[int]]:
    counted = [0]

    def profiler(_frame: Any, event: str, _arg: Any) -> None:
        if event in ("call", "c_call"):
            counted[0] += 1

    return profiler, counted


async def per_call(calls: int, clients: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="supplychain-percall-"))
    bench_process_environment(home)
    try:
        database_url = (await start_database(home)).asyncpg_admin_dsn
        postgres = [psutil.Process(pid) for pid in postgres_pids(home)]
        settings = load_settings("inventory")
        alice = identity_from_roles(
            policy=POLICY, tenant_id="acme", user_id="alice@acme", roles=frozenset({"supply_chain_manager"})
        )
        server = server_for(settings, local_identity=alice)
        async with AsyncExitStack() as stack:  # clients close in the reverse order (anyio's cancel scopes)
            opened = [await stack.enter_async_context(Client(server)) for _ in range(clients)]
            await _calls(opened, 20 * clients)  # warm: every pooled connection has prepared its statements
            commits = await transactions_committed(database_url)
            wall, cpu, database = time.perf_counter(), time.process_time(), cpu_seconds(postgres)
            await _calls(opened, calls)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            database = cpu_seconds(postgres) - database
            commits = await transactions_committed(database_url) - commits
            profiler, counted = _counting()
            sys.setprofile(profiler)
            try:
                await _calls(opened, calls)
            finally:
                sys.setprofile(None)
        print(f"{calls} calls, {clients} client(s): {calls / wall:,.0f} calls/s in this process")
        print(f"this process CPU {cpu / calls * 1e6:,.0f} us/call, Postgres CPU {database / calls * 1e6:,.0f} us/call")
        print(f"Python function calls {counted[0] / calls:,.0f} per call, commits {commits / calls:.2f} per call")
    finally:
        stop_database()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(per_call(args.calls, args.clients))


if __name__ == "__main__":
    main()
