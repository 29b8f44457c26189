"""Cold start over stdio: spawn `supplychain serve <server> --transport stdio` to its first tools/list answer.

The clock starts before the process is spawned and stops when the answer line arrives on stdout,
so it covers the interpreter, imports, settings, the engine and the first request. The command is
the console script's (`python -m supplychain.cli`, what `uv run supplychain` execs after uv's own
start-up, which is not counted). The identity comes from the environment, as in Claude Desktop.

Bytecode is on, as in a deployment (the Dockerfile compiles it at build time): the spawned servers may
write it even when the caller's environment sets PYTHONDONTWRITEBYTECODE, and one untimed spawn per
server writes it before the timed ones. Without it every start compiles each module it imports from
source, which measures the machine's compiler, not the server (2.2 s against about 1 s here). It
writes `__pycache__` folders, as any run without that variable does.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable

from bench.load import META
from bench.processes import python_command
from deployment.registry import SERVERS

IDENTITY = {
    "SUPPLYCHAIN_TENANT": "acme",
    "SUPPLYCHAIN_USER": "alice@acme",
    "SUPPLYCHAIN_ROLES": "supply_chain_manager,finance",
}
TOOLS_LIST = (
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}) + "\n"
).encode()


def cold_start_seconds(server: str) -> float:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"} | IDENTITY
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        python_command("-m", "supplychain.cli", "serve", server, "--transport", "stdio"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(TOOLS_LIST)
        process.stdin.flush()
        answer = process.stdout.readline()
        elapsed = time.perf_counter() - started
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
    tools = json.loads(answer).get("result", {}).get("tools") if answer else None
    if not tools:
        raise RuntimeError(f"{server} over stdio gave no tool list: {answer[:200]!r}")
    return elapsed


def measure_all(repeats: int, *, log: Callable[[str], None]) -> dict[str, dict[str, float]]:
    """Median, min and max seconds per server over `repeats` spawns."""
    results = {}
    for server in SERVERS:
        cold_start_seconds(server)  # untimed: writes the bytecode a deployment ships with
        times = [cold_start_seconds(server) for _ in range(repeats)]
        results[server] = {
            "median_s": round(statistics.median(times), 3),
            "min_s": round(min(times), 3),
            "max_s": round(max(times), 3),
            "runs": repeats,
        }
        log(f"  {server}: median {results[server]['median_s']} s over {repeats} (min {results[server]['min_s']})")
    return results
