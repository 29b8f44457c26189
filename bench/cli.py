"""The `supplychain bench` command."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("bench")
@click.option("--quick", is_flag=True, help="A few seconds per case and small data (what CI runs).")
@click.option("--rounds", type=click.IntRange(1, 20), default=None, help="Rounds of the interleaved comparison.")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the benchmark's own Postgres here (default: a temporary folder, removed afterwards).",
)
@click.option(
    "--case",
    "cases",
    multiple=True,
    type=click.Choice(["compare", "workers", "scaling", "cold-start"]),
    help="Run only this case (repeatable; default: all). compare includes the write tool.",
)
def bench(quick: bool, rounds: int | None, home: Path | None, cases: tuple[str, ...]) -> None:
    """Benchmark our secured server against the floor, bare MCPServer, bare fastmcp and the gateway.

    Uses its own embedded Postgres in its own home, never your data. Writes JSON, a markdown table
    and a PNG chart under bench/results/; a full run also refreshes docs/performance.md.
    """
    try:
        import matplotlib  # noqa: F401
        import psutil  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            f"{exc.name} is missing: the benchmark needs the dev dependencies (uv sync)"
        ) from None
    from bench import report, suite

    try:
        from uvloop import run  # the load generator's loop too: a lighter client
    except ImportError:
        from asyncio import run  # type: ignore[assignment]

    flags = (["--quick"] if quick else []) + ([f"--rounds {rounds}"] if rounds else [])
    command = " ".join(["uv run supplychain bench", *flags, *(f"--case {case}" for case in cases)])
    plan = suite.make_plan(quick, rounds, cases or suite.CASES)
    results = run(suite.run(plan, home=home, log=click.echo))
    files = report.write(results, command=command)
    click.echo("")
    click.echo(files["markdown"].read_text(encoding="utf-8"))
    for name, path in files.items():
        click.echo(f"{name}: {path}")
    errors = sum(m.errors for m in results.measurements)
    if errors:
        click.echo(f"{errors} call(s) failed: a benchmark with errors measures nothing", err=True)
        sys.exit(1)
