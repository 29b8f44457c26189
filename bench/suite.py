"""The whole benchmark run, case by case; returns every measurement for the report.

Cases, in order:
1. `compare`: floor, floor + audit record, bare MCPServer, bare fastmcp, our server, our server behind the gateway, at
   1/16/64 clients. All targets stay up; each round measures every (clients, target) pair with the
   target order rotated, so slow drift on a shared machine hits every target alike, and ratios are
   taken within a round.
2. `write`: create_reorder with the approval answered by the load client, at 1 and 16 clients.
3. `workers`: our server with one uvicorn worker and with two, interleaved in rounds.
4. `tenants` and `rows`: our server's latency as tenants grow (fixed rows per tenant) and as stock
   rows grow (two tenants), at 16 clients.
5. `cold_start`: each server over stdio, spawn to the first tools/list answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench import coldstart
from bench.environment import (
    BenchDatabase,
    bench_process_environment,
    choose_home,
    postgres_pids,
    start_database,
    stop_database,
)
from bench.floor import create_pool
from bench.measure import Measurement, measure
from bench.processes import Cores, pin_pid, pin_self, plan_cores
from bench.targets import Context, Endpoint, bare_server, behind_gateway, dev_idp, gateway_available, secured_server
from bench.workloads import Workload, approved_reorders, floor_reads, stock_reads
from supplychain.processes import free_port

Log = Callable[[str], None]


CASES = ("compare", "workers", "scaling", "cold-start")


@dataclass(frozen=True)
class Plan:
    quick: bool
    warmup: float
    duration: float
    rounds: int
    clients: tuple[int, ...]
    rows_per_tenant: int  # the comparison's data: one tenant queried, a second one beside it
    row_steps: tuple[int, ...]  # total stock rows over two tenants
    tenant_steps: tuple[int, ...]
    rows_per_tenant_when_scaling_tenants: int
    cold_starts: int
    cases: tuple[str, ...] = CASES


def make_plan(quick: bool, rounds: int | None = None, cases: tuple[str, ...] = CASES) -> Plan:
    if quick:
        return Plan(True, 0.5, 2.0, rounds or 1, (1, 16, 64), 5_000, (10_000, 50_000), (2, 50), 100, 2, cases)
    return Plan(
        False, 2.0, 8.0, rounds or 3, (1, 16, 64), 5_000, (10_000, 100_000, 1_000_000), (2, 100, 1000), 100, 10, cases
    )


@dataclass
class Results:
    plan: Plan
    machine: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    cold_start: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, measurement: Measurement, *, case: str, round_: int, log: Log) -> None:
        measurement.case, measurement.round = case, round_
        self.measurements.append(measurement)
        log(
            f"  [{case} r{round_}] {measurement.target:<34} {measurement.clients:>3} clients "
            f"{measurement.calls_per_s:>8.1f} calls/s  p50 {measurement.p50_ms:7.2f}  "
            f"p99 {measurement.p99_ms:7.2f} ms  "
            f"errors {measurement.errors}  rss {measurement.server_rss_mb} MB  client cpu {measurement.client_cpu_pct}%"
            + (f"  FIRST ERROR {measurement.first_error}" if measurement.first_error else "")
        )


def machine_description(cores: Cores) -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "pinning": cores.description,
        "load_average_at_start": [round(load1, 2), round(load5, 2)],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


async def run(plan: Plan, *, home: Path | None, log: Log) -> Results:
    chosen = choose_home(home)
    bench_process_environment(chosen.path)
    cores = plan_cores()
    results = Results(plan=plan, machine=machine_description(cores))
    log(f"benchmark home {chosen.path} (its own embedded Postgres); {cores.description}")
    try:
        database = await start_database(chosen.path)
        for pid in postgres_pids(chosen.path):
            for process in [psutil.Process(pid), *psutil.Process(pid).children()]:
                pin_pid(process.pid, cores.server)
        pin_self(cores)
        context = Context(database=database, cores=cores, logs=chosen.path / "logs")
        if "compare" in plan.cases:
            await compare_and_write(plan, context, results, log)
        if "workers" in plan.cases:
            await workers(plan, context, results, log)
        if "scaling" in plan.cases:
            await scaling(plan, context, results, log)
        if "cold-start" in plan.cases:
            log("cold start over stdio (spawn to first tools/list answer)")
            results.cold_start = coldstart.measure_all(plan.cold_starts, log=log)
    finally:
        stop_database()
        if not chosen.keep:
            import shutil

            shutil.rmtree(chosen.path, ignore_errors=True)
    return results


async def compare_and_write(plan: Plan, context: Context, results: Results, log: Log) -> None:
    database = context.database
    await database.load(tenants=2, rows_per_tenant=plan.rows_per_tenant)
    port = free_port()
    with ExitStack() as stack:
        issuer = stack.enter_context(dev_idp(context, {"inventory": f"http://127.0.0.1:{port}/mcp"}))
        secured = stack.enter_context(secured_server(context, issuer, port))
        endpoints: list[Endpoint] = [
            stack.enter_context(bare_server(context, "mcp")),
            stack.enter_context(bare_server(context, "fastmcp")),
            secured,
        ]
        why_not = gateway_available()
        if why_not is None:
            try:
                endpoints.append(stack.enter_context(behind_gateway(context)))
            except Exception as failure:  # the gateway is another component: report it, measure the rest
                why_not = f"gateway failed to start: {str(failure).splitlines()[0][:200]}"
        if why_not is not None:
            results.skipped["secured + gateway"] = f"skipped: {why_not}"
            log(f"  secured + gateway: skipped: {why_not}")
        async with AsyncExitStack() as pools:
            pool = await create_pool(database.server_dsn())
            pools.push_async_callback(pool.close)
            workloads: list[Workload] = [
                floor_reads(pool, rows_per_tenant=plan.rows_per_tenant),
                floor_reads(pool, rows_per_tenant=plan.rows_per_tenant, audited=True),
            ]
            workloads += [stock_reads(e, tenants=1, rows_per_tenant=plan.rows_per_tenant) for e in endpoints]
            log(f"compare: {len(workloads)} targets x clients {plan.clients} x {plan.rounds} round(s)")
            for round_ in range(plan.rounds):
                for clients in plan.clients:
                    shift = round_ % len(workloads)
                    for workload in workloads[shift:] + workloads[:shift]:
                        measured = await measure(workload, clients=clients, warmup=plan.warmup, duration=plan.duration)
                        results.add(measured, case="compare", round_=round_, log=log)
        log("write: create_reorder, approval answered by the load client (2026-07-28 input_required round trip)")
        writers = [approved_reorders(e, tenants=2, rows_per_tenant=plan.rows_per_tenant) for e in endpoints if e.issuer]
        for clients in (1, 16):
            for workload in writers:
                measured = await measure(workload, clients=clients, warmup=plan.warmup, duration=plan.duration)
                results.add(measured, case="write", round_=0, log=log)


async def workers(plan: Plan, context: Context, results: Results, log: Log) -> None:
    """One uvicorn worker against two; two workers get every core (the client then shares one)."""
    server_cores = context.cores.server
    all_cores = tuple(sorted(os.sched_getaffinity(0) | set(server_cores or ())))
    # Two workers need two cores of their own; with fewer, they run unpinned and share with the client.
    two_worker_cores = server_cores if server_cores and len(server_cores) >= 2 else ()
    if not two_worker_cores:
        log(f"workers: {len(all_cores)} core(s) in all, so the two workers are not pinned (they share with the client)")
    port = free_port()
    log("workers: one uvicorn worker vs two, 16 clients")
    with dev_idp(context, {"inventory": f"http://127.0.0.1:{port}/mcp"}) as issuer:
        for round_ in range(plan.rounds):
            for count in (1, 2) if round_ % 2 == 0 else (2, 1):
                cores = server_cores if count == 1 else two_worker_cores
                name = f"secured, {count} worker{'s' if count > 1 else ''}"
                with secured_server(context, issuer, port, name=name, workers=count, cores=cores) as endpoint:
                    workload = stock_reads(endpoint, tenants=1, rows_per_tenant=plan.rows_per_tenant)
                    measured = await measure(workload, clients=16, warmup=plan.warmup, duration=plan.duration)
                    results.add(measured, case="workers", round_=round_, log=log)


async def scaling(plan: Plan, context: Context, results: Results, log: Log) -> None:
    database = context.database
    port = free_port()
    issuer_for = {"inventory": f"http://127.0.0.1:{port}/mcp"}
    with dev_idp(context, issuer_for) as issuer, secured_server(context, issuer, port) as endpoint:
        per_tenant = plan.rows_per_tenant_when_scaling_tenants
        log(f"tenants: {plan.tenant_steps} tenants x {per_tenant} rows, 16 clients")
        for tenants in plan.tenant_steps:
            await database.load(tenants=tenants, rows_per_tenant=per_tenant)
            workload = stock_reads(endpoint, tenants=tenants, rows_per_tenant=per_tenant)
            workload.name = f"secured, {tenants} tenants"
            measured = await measure(workload, clients=16, warmup=plan.warmup, duration=plan.duration)
            results.add(measured, case="tenants", round_=0, log=log)
        log(f"rows: {plan.row_steps} stock rows over two tenants, 16 clients")
        for rows in plan.row_steps:
            await database.load(tenants=2, rows_per_tenant=rows // 2)
            workload = stock_reads(endpoint, tenants=2, rows_per_tenant=rows // 2)
            workload.name = f"secured, {rows:,} rows"
            measured = await measure(workload, clients=16, warmup=plan.warmup, duration=plan.duration)
            results.add(measured, case="rows", round_=0, log=log)


__all__ = ["BenchDatabase", "Plan", "Results", "make_plan", "run"]
