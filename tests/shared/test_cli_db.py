"""`supplychain db start|status|url|stop` against a fresh embedded cluster in its own home."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

pytestmark = pytest.mark.slow


async def _db(home: Path, *args: str) -> tuple[int, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env["SUPPLYCHAIN_HOME"] = str(home)
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [sys.executable, "-m", "supplychain.cli", "db", *args], env=env, check=False, stderr=None
        )
    return done.returncode, done.stdout.decode().strip()


async def test_db_commands_start_report_and_stop_the_embedded_cluster(tmp_path: Path) -> None:
    assert await _db(tmp_path, "status") == (0, "embedded: stopped")
    assert await _db(tmp_path, "start") == (0, "embedded Postgres running")
    try:
        assert await _db(tmp_path, "status") == (0, "embedded: running")
        code, url = await _db(tmp_path, "url")
        assert code == 0 and url.startswith("postgresql://postgres") and url.split("?")[0].endswith("/supplychain")
    finally:
        assert await _db(tmp_path, "stop") == (0, "embedded Postgres stopped")
    assert await _db(tmp_path, "status") == (0, "embedded: stopped")
