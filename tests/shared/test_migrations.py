"""Each server's migrations: one initial revision, building exactly the reviewed schema, that refuses to go down.

The reviewed schemas are `tests/snapshots/schema_<server>.json`, one per server, compared through the
catalog (`tests.schema_catalog`): relations, columns, indexes, constraints, row-level security and
its policies, triggers, functions and every grant. The four original servers' snapshots were taken
from the eight-revision chains they had before the squash (main at 3b14af7), so their single initial
revision is proven to build what those chains built; they were written again when `audit_log.seq`
came to be drawn by a trigger (`securemcp.schema.audit_seq`), and tests/shared/test_upgrade_squashed.py
proves that those chains plus the library's upgrade step build the same.

When a schema change is intended (a new revision), review it and write the snapshots again:

    SUPPLYCHAIN_UPDATE_SNAPSHOTS=1 uv run pytest tests/shared/test_migrations.py -k snapshot

then read `git diff tests/snapshots/`. A server without a snapshot (a new one) is skipped until then.

Runs in databases of its own, created for the test in the session's cluster (roles are cluster-wide
and already made by `db init`), so the session's schemas are never touched.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from deployment.registry import SERVERS
from migrations import META_SCHEMA, initial_revision
from supplychain.admin import OWNER_ROLE, alembic_config, run_migrations
from tests.helpers import fresh_database
from tests.schema_catalog import read_snapshot, schema_catalog, snapshot_file, write_snapshot

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"


@pytest.fixture(scope="module")
async def migrated(admin_url: str, server_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    """A new database with the schemas `db init` makes, migrated to every head as `db init` does."""
    async with fresh_database(admin_url, "migrations", (*SERVERS, META_SCHEMA)) as engine:
        await run_migrations(engine)
        yield engine


async def _downgrade_as_owner(engine: AsyncEngine, target: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, target)

    async with engine.connect() as conn:
        await conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
        await conn.run_sync(run)


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_has_one_initial_revision_and_its_file(server: str) -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    branch = list(scripts.iterate_revisions(f"{server}@head", "base"))
    assert [(script.revision, script.down_revision, script.branch_labels) for script in branch] == [
        (initial_revision(server), None, {server})
    ]
    assert branch[0].path == str(MIGRATIONS / f"{initial_revision(server)}.py")


@pytest.mark.parametrize("server", SERVERS)
async def test_a_freshly_migrated_schema_matches_its_reviewed_snapshot(migrated: AsyncEngine, server: str) -> None:
    current = await schema_catalog(migrated, server)
    if os.environ.get("SUPPLYCHAIN_UPDATE_SNAPSHOTS") == "1":
        write_snapshot(server, current)
    if not snapshot_file(server).exists():
        pytest.skip(f"no reviewed schema snapshot for {server}: write it (see this module's docstring)")
    assert current == read_snapshot(server)


async def test_the_initial_revisions_refuse_to_go_down_and_leave_everything_as_it_was(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    async with fresh_database(admin_url, "migrations_down", (*SERVERS, META_SCHEMA)) as engine:
        await run_migrations(engine)
        before = {server: await schema_catalog(engine, server) for server in SERVERS}
        for server in SERVERS:
            with pytest.raises(NotImplementedError, match=r"^the audit trail is never dropped by a migration$"):
                await _downgrade_as_owner(engine, f"{server}@base")
        assert {server: await schema_catalog(engine, server) for server in SERVERS} == before
        async with engine.connect() as conn:
            versions = await conn.execute(text(f"SELECT version_num FROM {META_SCHEMA}.alembic_version"))
            assert sorted(row[0] for row in versions) == sorted(initial_revision(server) for server in SERVERS)
