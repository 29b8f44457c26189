"""`supplychain db start|status|url|stop` against a fresh embedded cluster in its own home.

The home is `tests.cluster_home`'s, not `tmp_path`: a pytest started beside this one once narrowed
pytest's shared base folder while initdb ran here, and initdb lost access to its own files.
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


async def _db(home: Path, *args: str) -> tuple[int, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env["SUPPLYCHAIN_HOME"] = str(home)
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [sys.executable, "-m", "supplychain.cli", "db", *args], env=env, check=False, stderr=None
        )
    return done.returncode, done.stdout.decode().strip()


@pytest.fixture
def home() -> Iterator[Path]:
    with cluster_home("cli-db") as path:
        yield path


async def test_db_commands_start_report_and_stop_the_embedded_cluster(home: Path) -> None:
    assert await _db(home, "status") == (0, "embedded: stopped")
    assert await _db(home, "start") == (0, "embedded Postgres running")
    try:
        assert await _db(home, "status") == (0, "embedded: running")
        code, url = await _db(home, "url")
        assert code == 0 and url.startswith("postgresql://postgres") and url.split("?")[0].endswith("/supplychain")
    finally:
        assert await _db(home, "stop") == (0, "embedded Postgres stopped")
    assert await _db(home, "status") == (0, "embedded: stopped")
