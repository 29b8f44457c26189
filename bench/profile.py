"""Where a server's CPU goes per call: `uv run python -m bench.profile secured|mcp|fastmcp`.

Options: `--seconds N`, `--clients N`, `--no-py-spy` (CPU time only), `--keep FILE` (py-spy's samples).

The numbers behind the CPU split per call in CHANGELOG.md and docs/performance.md. On the benchmark's own database and
data (a temporary home), one target is started as `supplychain bench` starts it and loaded by 16
clients calling `get_stock_level`. The script prints:
- the server's and Postgres' CPU time per call (`psutil`, summed over each process tree);
- a py-spy profile of the server (sampling at 250 Hz; py-spy attaches to the process, so this needs
  the right to trace it: root, or `ptrace_scope` 0), each sample given to the innermost library it is
  in, as microseconds per call.
Nothing is asserted: the machine is noisy, so run it twice and read both.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

import psutil

from bench.environment import bench_process_environment, postgres_pids, start_database, stop_database
from bench.measure import measure
from bench.percall import cpu_seconds, transactions_committed
from bench.processes import pin_pid, pin_self, plan_cores
from bench.targets import Context, bare_server, dev_idp, secured_server
from bench.workloads import stock_reads
from supplychain.processes import free_port

CLIENTS = 16
ROWS = 5_000
# Innermost matching frame wins; the order only matters for frames that match two rules.
LAYERS = (
    ("database driver (asyncpg)", r"asyncpg/"),
    ("SQLAlchemy / SQLModel", r"sqlalchemy/|sqlmodel/"),
    ("our code (shared/, servers/)", r"\((shared|servers|bench)/"),
    ("MCP SDK", r"mcp/|mcp_types/|fastmcp/"),
    ("pydantic", r"pydantic"),
    ("HTTP (starlette, uvicorn, httptools)", r"starlette/|uvicorn/|httptools"),
    ("event loop (asyncio, anyio, uvloop)", r"asyncio/|anyio/|uvloop"),
    ("JSON, hashing, stdlib", r"json/|hashlib|random|uuid|contextlib|typing|weakref|copy|enum|datetime|functools"),
)


def layer_split(raw: Path) -> dict[str, int]:
    """Samples per layer in a py-spy `--format raw` file (idle worker threads left out)."""
    samples: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(encoding="utf-8").splitlines():
        if not line.strip() or "concurrent/futures/thread.py" in line:  # an idle thread-pool worker
            continue
        stack, count = line.rsplit(" ", 1)
        layer = "interpreter, unattributed"
        for frame in reversed(stack.split(";")):
            hit = next((name for name, pattern in LAYERS if re.search(pattern, frame)), None)
            if hit is not None:
                layer = hit
                break
        samples[layer] += int(count)
    return dict(samples)


async def profile(
    target: str, seconds: float, clients: int = CLIENTS, spy_too: bool = True, keep: Path | None = None
) -> None:
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is missing: it is a dev dependency (uv sync)")
    home = Path(tempfile.mkdtemp(prefix="supplychain-profile-"))
    bench_process_environment(home)
    cores = plan_cores()
    try:
        database = await start_database(home)
        postgres = [psutil.Process(pid) for pid in postgres_pids(home)]
        for process in postgres:
            for member in [process, *process.children()]:
                pin_pid(member.pid, cores.server)
        pin_self(cores)
        await database.load(tenants=2, rows_per_tenant=ROWS)
        context = Context(database=database, cores=cores, logs=home / "logs")
        with ExitStack() as stack:
            if target == "secured":
                port = free_port()
                issuer = stack.enter_context(dev_idp(context, {"inventory": f"http://127.0.0.1:{port}/mcp"}))
                endpoint = stack.enter_context(secured_server(context, issuer, port))
            else:
                endpoint = stack.enter_context(bare_server(context, target))
            assert endpoint.process is not None
            server = psutil.Process(endpoint.process.popen.pid)
            workload = stock_reads(endpoint, tenants=1, rows_per_tenant=ROWS)
            await measure(workload, clients=clients, warmup=1.0, duration=2.0)  # warm, untimed
            commits = await transactions_committed(database.asyncpg_admin_dsn)
            before = cpu_seconds([server]), cpu_seconds(postgres)
            measured = await measure(workload, clients=clients, warmup=0.0, duration=seconds)
            server_cpu, postgres_cpu = (cpu_seconds([server]) - before[0], cpu_seconds(postgres) - before[1])
            per_call, postgres_per_call = (cpu / measured.calls * 1e6 for cpu in (server_cpu, postgres_cpu))
            print(f"{target}: {measured.calls_per_s:,.0f} calls/s at {clients} clients, errors {measured.errors}")
            commits = await transactions_committed(database.asyncpg_admin_dsn) - commits
            print(f"server CPU {per_call:,.0f} us/call, Postgres CPU {postgres_per_call:,.0f} us/call")
            print(f"commits {commits / measured.calls:.2f} per call (a WAL flush each, unless read-only)")
            if not spy_too:
                return
            # The process serving requests: uvicorn's worker when `serve` runs one, else the server itself.
            serving = ([server, *server.children(recursive=True)])[-1].pid
            raw = home / "profile.txt"
            spy = await asyncio.create_subprocess_exec(
                py_spy, "record", "--pid", str(serving), "--rate", "250", "--duration", str(int(seconds)),
                "--format", "raw", "--output", str(raw), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await measure(workload, clients=clients, warmup=0.0, duration=seconds)
            await spy.wait()
            if keep is not None:  # the samples themselves, for a look below the layers (`py-spy` raw format)
                shutil.copyfile(raw, keep)
            samples = layer_split(raw)
            total = sum(samples.values()) or 1
            print(f"\npy-spy: {total} samples of the serving process\n")
            print("| layer | share | us per call |\n|---|---:|---:|")
            for layer, count in sorted(samples.items(), key=lambda item: -item[1]):
                print(f"| {layer} | {100 * count / total:.0f} % | {per_call * count / total:,.0f} |")
    finally:
        stop_database()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=["secured", "mcp", "fastmcp"])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--no-py-spy", action="store_true", help="only the CPU time per call")
    parser.add_argument("--keep", type=Path, help="also save py-spy's raw samples to this file")
    args = parser.parse_args()
    try:
        from uvloop import run
    except ImportError:
        from asyncio import run  # type: ignore[assignment]
    run(profile(args.target, args.seconds, args.clients, not args.no_py_spy, args.keep))


if __name__ == "__main__":
    main()
