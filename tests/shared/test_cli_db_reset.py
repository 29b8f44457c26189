"""`supplychain db reset` and `db seed`'s one-line refusal, for real, on an embedded cluster in this module's own home.

Every command runs as a user runs it: `python -m supplychain.cli db ...` in a subprocess whose
`SUPPLYCHAIN_*` variables are only this module's `SUPPLYCHAIN_HOME` (and a DSN where a test sets one),
stdin closed unless a test gives it a terminal. Whether a cluster was made again is read from
Postgres's own system identifier, which initdb draws anew for every cluster.
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from deployment.registry import SERVERS
from supplychain.admin import admin_engine, fixture_records
from tests.cluster_home import cluster_home

pytestmark = pytest.mark.slow

SEEDED = ", ".join(f"{server}: {len(fixture_records(server))} records" for server in SERVERS)


def _db(home: Path, *args: str, dsn: str | None = None, stdin: int = subprocess.DEVNULL) -> tuple[int, str, str]:
    """`supplychain db ARGS` with `home` as SUPPLYCHAIN_HOME: exit code, stdout, stderr."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env["SUPPLYCHAIN_HOME"] = str(home)
    if dsn is not None:
        env["SUPPLYCHAIN_ADMIN_DATABASE_URL"] = dsn
    done = subprocess.run(
        [sys.executable, "-m", "supplychain.cli", "db", *args], env=env, stdin=stdin, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def _query(url: str, sql: str) -> Any:
    """The first value of `sql` (None for a statement without rows), run with the credential in `url`."""

    async def read() -> Any:
        engine = admin_engine(url)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(sql))
                return result.scalar() if result.returns_rows else None
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _made_again(home: Path) -> str:
    return f"embedded Postgres deleted and made again in {home / 'pgdata'}, initialised and seeded"


def _host(dsn: str) -> str:
    parsed = make_url(dsn)
    return f"host {parsed.host or parsed.query['host']}" + (f", port {parsed.port}" if parsed.port else "")


def _cluster_id(url: str) -> int:
    return int(_query(url, "SELECT system_identifier FROM pg_control_system()"))


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    """This module's SUPPLYCHAIN_HOME, holding a cluster `db reset --yes` made from nothing."""
    with cluster_home("db-reset") as path:
        try:
            code, out, err = _db(path, "reset", "--yes")
            assert (code, err) == (0, ""), err
            assert out == f"{_made_again(path)}\n{SEEDED}\n"
            yield path
        finally:
            _db(path, "stop")


@pytest.fixture(scope="module")
def url(home: Path) -> str:
    code, out, _ = _db(home, "url")
    assert code == 0
    return out.strip()


def test_reset_with_yes_makes_the_cluster_again_from_the_migrations_and_keeps_the_credentials(
    home: Path, url: str
) -> None:
    before = _cluster_id(url)
    _query(url, "CREATE TABLE inventory.leftover (x int)")
    checkpoints = home / "audit" / "checkpoints.jsonl"
    checkpoints.parent.mkdir(exist_ok=True)
    checkpoints.write_text('{"a": "checkpoint of a chain the reset deletes"}\n', encoding="utf-8")
    verified = home / "audit" / "verified-heads.json"  # what `audit verify` remembered of that file
    verified.write_text('{"inventory": {"heads": []}}\n', encoding="utf-8")

    code, out, err = _db(home, "reset", "--yes")
    assert (code, err) == (0, "")
    made, seeded, kept, kept_verified = out.splitlines()
    assert made == _made_again(home)
    assert seeded == SEEDED
    kept_file = rf"{re.escape(str(checkpoints))}\.before-reset-\d{{8}}T\d{{6}}Z"
    assert re.fullmatch(rf"the deleted trails' audit checkpoints are kept in {kept_file}", kept)
    assert Path(kept.rsplit(" ", 1)[1]).read_text(encoding="utf-8").startswith('{"a": "checkpoint')
    assert not checkpoints.exists()
    kept_file = rf"{re.escape(str(verified))}\.before-reset-\d{{8}}T\d{{6}}Z"
    assert re.fullmatch(rf"the checkpoints `audit verify` last verified in them are kept in {kept_file}", kept_verified)
    assert not verified.exists()

    assert _cluster_id(url) != before
    assert _query(url, "SELECT to_regclass('inventory.leftover')") is None
    assert _query(url, "SELECT count(*) FROM supplychain_meta.alembic_version") == len(SERVERS)
    # The servers' own credentials still open their database: `db init` kept their passwords.
    dsn = (home / "secrets" / "inventory.dsn").read_text(encoding="utf-8").strip()  # where `db init` wrote it
    assert _query(dsn, "SELECT current_user") == "inventory_svc"


def test_reset_without_a_terminal_refuses_unless_told_yes(home: Path, url: str) -> None:
    before = _cluster_id(url)
    assert _db(home, "reset") == (
        1, "", "Error: db reset: no terminal to ask for confirmation: pass --yes to reset without one\n"
    )  # fmt: skip
    assert _cluster_id(url) == before


def test_reset_on_a_terminal_asks_and_a_no_changes_nothing(home: Path, url: str) -> None:
    before = _cluster_id(url)
    terminal, its_other_end = pty.openpty()
    try:
        os.write(terminal, b"n\n")  # typed ahead: read when the question is asked
        code, out, err = _db(home, "reset", stdin=its_other_end)
    finally:
        os.close(terminal)
        os.close(its_other_end)
    assert (code, err) == (1, "Aborted!\n")
    assert out == (
        f"Delete the embedded database in {home / 'pgdata'}, every server's data and audit trail with it, "
        "and make it again? [y/N]: "
    )
    assert _cluster_id(url) == before


@pytest.mark.parametrize("where", ["another server", "the embedded socket"])
def test_reset_refuses_a_database_named_by_a_dsn(home: Path, url: str, admin_url: str, where: str) -> None:
    before = _cluster_id(url)
    dsn = admin_url if where == "another server" else url  # the session's database, or this cluster by its DSN
    code, out, err = _db(home, "reset", "--yes", dsn=dsn)
    named = _host(dsn) if where == "another server" else "the embedded cluster's socket"
    assert (code, out) == (1, "")
    assert err == (
        f"Error: db reset: SUPPLYCHAIN_ADMIN_DATABASE_URL is set ({named}): db reset deletes only the embedded "
        f"cluster in {home / 'pgdata'}, never a database named by a DSN; unset it to reset the embedded cluster\n"
    )
    assert _cluster_id(url) == before


def test_reset_refuses_a_data_folder_that_is_not_a_cluster() -> None:
    with cluster_home("not-a-cluster") as elsewhere:
        (elsewhere / "pgdata").mkdir()
        (elsewhere / "pgdata" / "notes.txt").write_text("mine", encoding="utf-8")
        refused = _db(elsewhere, "reset", "--yes")
        _db(elsewhere, "stop")  # were it not refused, a cluster would run there now
        assert refused == (
            1, "", f"Error: db reset: {elsewhere / 'pgdata'} is not a Postgres data directory (no PG_VERSION): "
            "not deleting it\n",
        )  # fmt: skip
        assert (elsewhere / "pgdata" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_seed_on_a_schema_without_a_fixture_table_says_in_one_line_to_reset(home: Path, url: str) -> None:
    # What editing a server's first migration after it ran leaves behind: Alembic at the head, a table missing.
    _query(url, "DROP TABLE inventory.reorders")
    stock = _query(url, "SELECT count(*) FROM inventory.stock_levels")
    assert _db(home, "seed") == (
        1, "", "Error: db seed: inventory.reorders does not exist: its schema differs from its migrations: "
        "run `supplychain db reset` (remakes the database, data gone)\n",
    )  # fmt: skip
    assert _query(url, "SELECT count(*) FROM inventory.stock_levels") == stock > 0  # nothing was truncated
    assert _db(home, "reset", "--yes")[0] == 0
    assert _db(home, "seed") == (0, f"{SEEDED}\n", "")
