"""What `supplychain demo` leaves of the embedded Postgres, run as a new user runs it: no database configured.

It stops the embedded Postgres it started, unless `--keep`; one that ran before the demo is left running.
Each run is the real command in a subprocess, in a home of its own with its own embedded cluster.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.cluster_home import cluster_home

pytestmark = pytest.mark.slow

STOPPED = "Stopped the embedded Postgres the demo started (`--keep` leaves it running)."
KEPT = "The embedded Postgres is left running (--keep): `supplychain db stop` stops it."
LEFT = "The embedded Postgres was running before the demo: left running (`supplychain db stop` stops it)."


@pytest.fixture
def home() -> Iterator[Path]:
    with cluster_home("demo-db") as path:
        yield path


async def supplychain(home: Path, *args: str) -> tuple[int, str, str]:
    """`supplychain <args>` with only `SUPPLYCHAIN_HOME` set: the embedded Postgres, as on a fresh machine."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env["SUPPLYCHAIN_HOME"] = str(home)
    with anyio.fail_after(240):
        done = await anyio.run_process(
            [sys.executable, "-m", "supplychain.cli", *args],
            input=b"",
            env=env,
            check=False,  # no terminal
        )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def status(home: Path) -> str:
    code, out, err = await supplychain(home, "db", "status")
    assert code == 0, err
    return out.strip()


async def test_demo_stops_the_postgres_it_started_keeps_it_with_keep_and_leaves_one_already_running(
    home: Path,
) -> None:
    assert await status(home) == "embedded: stopped"
    try:
        # No terminal and no --yes: the approval is declined and the demo fails closed, and still stops it.
        code, out, err = await supplychain(home, "demo", "--transport", "stdio")
        assert code == 1 and "demo failed: create_reorder failed:" in err
        assert out.rstrip().endswith(STOPPED)
        assert await status(home) == "embedded: stopped"

        code, out, err = await supplychain(home, "demo", "--yes", "--transport", "stdio")
        assert code == 0, err
        assert "Demo finished: 1 approval(s) asked" in out
        assert out.rstrip().endswith(STOPPED)
        assert await status(home) == "embedded: stopped"

        code, out, err = await supplychain(home, "demo", "--yes", "--transport", "stdio", "--keep")
        assert code == 0, err
        assert out.rstrip().endswith(KEPT)
        assert await status(home) == "embedded: running"

        # Running before this demo (the one above kept it): not the demo's to stop.
        code, out, err = await supplychain(home, "demo", "--yes", "--transport", "stdio")
        assert code == 0, err
        assert out.rstrip().endswith(LEFT)
        assert await status(home) == "embedded: running"
    finally:
        await supplychain(home, "db", "stop")
    assert await status(home) == "embedded: stopped"
