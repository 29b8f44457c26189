"""`supplychain db seed` on a database its fixtures do not fit: one line naming what to run, and nothing truncated.

Against a database the user runs (SUPPLYCHAIN_ADMIN_DATABASE_URL), made for each test in the
session's cluster. The embedded cluster's case, where the line names `db reset`, is in
tests/shared/test_cli_db_reset.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from deployment.registry import SERVERS
from migrations import META_SCHEMA
from supplychain.admin import fixture_records, run_migrations, seed_database
from tests.helpers import fresh_database

pytestmark = pytest.mark.slow


async def _seed(engine: AsyncEngine, home: Path) -> tuple[int, str, str]:
    """`supplychain db seed` against the database of `engine`: exit code, stdout, stderr."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env |= {"SUPPLYCHAIN_HOME": str(home), "SUPPLYCHAIN_ADMIN_DATABASE_URL": engine.url.render_as_string(False)}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "supplychain.cli", "db", "seed"], env=env, stdin=subprocess.DEVNULL, check=False
        )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def _count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


@pytest.fixture
async def database(admin_url: str, server_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    """A new database with the schemas `db init` makes, nothing in them."""
    async with fresh_database(admin_url, "seed_refusal", (*SERVERS, META_SCHEMA)) as engine:
        yield engine


async def test_seed_before_any_migration_says_to_run_db_init(database: AsyncEngine, tmp_path: Path) -> None:
    first = SERVERS[0]
    tables = list(dict.fromkeys(type(record).__table__.name for record in fixture_records(first)))  # type: ignore[attr-defined]
    assert await _seed(database, tmp_path) == (
        1, "", f"Error: db seed: {first}.{tables[0]} (and {len(tables) - 1} more) does not exist: "
        "run `supplychain db init` first\n",
    )  # fmt: skip


async def test_seed_on_a_schema_without_a_fixture_table_says_what_to_drop_and_truncates_nothing(
    database: AsyncEngine, tmp_path: Path
) -> None:
    await run_migrations(database)
    await seed_database(database.url.render_as_string(False))
    async with database.connect() as conn:
        await conn.execute(text("DROP TABLE inventory.reorders"))
    stock = await _count(database, "inventory.stock_levels")
    assert await _seed(database, tmp_path) == (
        1, "", "Error: db seed: inventory.reorders does not exist: its schema differs from its migrations: "
        "drop schema inventory and run `supplychain db init`\n",
    )  # fmt: skip
    assert await _count(database, "inventory.stock_levels") == stock > 0
