"""`supplychain loadtest`: start a private system, load it with simulated agents, check the invariants.

Exit code 0 only when every invariant holds. The run never touches the user's data: it has its own
temporary SUPPLYCHAIN_HOME and embedded Postgres (`loadtest.environment`). The work is imported when the
command runs, so every `supplychain` process (each server among them) stays small.
"""

from __future__ import annotations

import sys

import click


@click.command("loadtest")
@click.option("--agents", type=click.IntRange(2, 1024), default=64, show_default=True, help="Simulated agents.")
@click.option("--duration", type=click.FloatRange(1, 3600), default=60.0, show_default=True, help="Seconds of load.")
@click.option("--quick", is_flag=True, help="CI mode: 16 agents for 5 s.")
@click.option("--via", type=click.Choice(["direct", "gateway"]), default="direct", show_default=True,
              help="direct: a process per server; gateway: HAProxy (TLS) before two replicas of each.")  # fmt: skip
def loadtest(agents: int, duration: float, quick: bool, via: str) -> None:
    """Load a private copy of the system with simulated agents, then check and print the invariants."""
    import anyio

    from loadtest.environment import environment
    from loadtest.run import run_load

    if quick:
        agents, duration = 16, 5.0
    click.echo(f"starting a private system (own SUPPLYCHAIN_HOME and embedded Postgres), via {via} ...")
    with environment(via) as env:
        checks = anyio.run(run_load, env, agents, duration)
    for check in checks:
        click.echo(f"[{'PASS' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
    failed = [check for check in checks if not check.passed]
    click.echo(f"{len(checks) - len(failed)} of {len(checks)} invariants hold")
    sys.exit(1 if failed else 0)
