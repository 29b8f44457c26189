"""A database migrated by the old eight-revision chains, taken onto the single initial revisions (docs/upgrading.md).

The old chains are kept, as they were, in tests/migrations_legacy/. A database is migrated by them to
their heads (`<server>_0700`), then `supplychain db upgrade-squashed` runs on it as a user runs it
(a subprocess, with SUPPLYCHAIN_ADMIN_DATABASE_URL naming that database). Afterwards Alembic is at
`<server>_0001_initial` for every server, `db init`'s migration step has nothing left to do, and every
schema equals, object by object, the one a fresh database gets from the squashed revisions.
A database anywhere else in the old chains is refused, with nothing changed; and `db init` itself
refuses an old-chain database in one line that names the command, instead of failing inside Alembic.

The old chains made `audit_log.seq` an identity column, and so did the initial revisions until
`securemcp.schema.audit_seq`: the same command draws it by a trigger, on a re-stamped database and on
one already at the initial revisions, keeping the sequence's position; `db init` refuses such a
database until then.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from deployment.registry import SERVERS
from migrations import META_SCHEMA, initial_revision
from supplychain.admin import OWNER_ROLE, AdminError, run_migrations
from supplychain.revisions import SQUASHED_SERVERS, VERSION_TABLE
from tests.helpers import fresh_database
from tests.migrations_legacy import SCRIPT_LOCATION
from tests.schema_catalog import read_snapshot, schema_catalog

pytestmark = pytest.mark.slow

OLD_HEADS = sorted(f"{server}_0700" for server in SQUASHED_SERVERS)
NEW_REVISIONS = sorted(initial_revision(server) for server in SQUASHED_SERVERS)
SEQ_UPGRADED = [f"{server}: audit_log.seq is now drawn from its sequence by a trigger" for server in SQUASHED_SERVERS]
SESSIONS_ADDED = [
    f"{server}: page sessions on the server and the requester's person on approvals added"
    for server in SQUASHED_SERVERS
]


async def _legacy_upgrade(engine: AsyncEngine, *targets: str) -> None:
    """Run the old chains up to `targets`, as `db init` ran them before the squash (as the owner)."""

    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(SCRIPT_LOCATION))
        config.attributes["connection"] = connection
        for target in targets:
            command.upgrade(config, target)

    async with engine.connect() as conn:
        await conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
        await conn.run_sync(run)
        await conn.execute(text("RESET ROLE"))  # the admin engine's one connection goes back to the pool


async def _versions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return sorted(row[0] for row in await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")))


async def _upgrade_squashed(engine: AsyncEngine, home: Path) -> tuple[int, str, str]:
    """`supplychain db upgrade-squashed` on the database of `engine`: exit code, stdout, stderr."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env |= {"SUPPLYCHAIN_HOME": str(home), "SUPPLYCHAIN_ADMIN_DATABASE_URL": engine.url.render_as_string(False)}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "supplychain.cli", "db", "upgrade-squashed"], env=env, check=False
        )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.fixture
async def old_database(admin_url: str, server_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    """A new database holding the schemas `db init` makes, nothing migrated yet."""
    async with fresh_database(admin_url, "legacy", (*SERVERS, META_SCHEMA)) as engine:
        yield engine


async def test_a_database_at_the_old_heads_is_restamped_and_equals_a_fresh_one(
    old_database: AsyncEngine, admin_url: str, tmp_path: Path
) -> None:
    await _legacy_upgrade(old_database, "heads")
    assert await _versions(old_database) == OLD_HEADS

    code, out, err = await _upgrade_squashed(old_database, tmp_path)
    assert (code, err) == (0, ""), err
    assert sorted(out.splitlines()) == sorted(
        [f"{server}_0700 -> {initial_revision(server)}" for server in SQUASHED_SERVERS] + SEQ_UPGRADED + SESSIONS_ADDED
    )
    assert await _versions(old_database) == NEW_REVISIONS

    before = {server: await schema_catalog(old_database, server) for server in SQUASHED_SERVERS}
    await run_migrations(old_database)  # `db init`'s step: Alembic accepts the stamps, and finds nothing to do
    assert await _versions(old_database) == sorted(initial_revision(server) for server in SERVERS)
    async with fresh_database(admin_url, "squashed", (*SERVERS, META_SCHEMA)) as fresh:
        await run_migrations(fresh)
        for server in SQUASHED_SERVERS:
            assert before[server] == await schema_catalog(old_database, server), server
            assert before[server] == await schema_catalog(fresh, server) == read_snapshot(server), server

    again = await _upgrade_squashed(old_database, tmp_path)
    assert again[0] == 0 and sorted(again[1].splitlines()) == sorted(
        f"{revision}: already on this checkout's revisions" for revision in await _versions(old_database)
    )


async def test_a_database_elsewhere_in_the_old_chain_is_refused_and_left_as_it_was(
    old_database: AsyncEngine, tmp_path: Path
) -> None:
    # inventory stops at 0500, which came after 0600 in the old chain's order; the others reach their heads.
    await _legacy_upgrade(old_database, "inventory_0500", *(f"{s}@head" for s in SQUASHED_SERVERS if s != "inventory"))
    before = await _versions(old_database)
    assert before == sorted(["inventory_0500", *(f"{s}_0700" for s in SQUASHED_SERVERS if s != "inventory")])

    code, out, err = await _upgrade_squashed(old_database, tmp_path)
    assert (code, out) == (1, "")
    assert err == (
        "Error: db upgrade-squashed: inventory is at inventory_0500, not at its old chain's last revision "
        "inventory_0700: upgrade it with the release before the squash first; nothing was changed\n"
    )
    assert await _versions(old_database) == before


async def test_db_init_refuses_an_old_chain_database_in_one_line_naming_the_command(old_database: AsyncEngine) -> None:
    await _legacy_upgrade(old_database, "heads")
    with pytest.raises(AdminError) as refused:
        await run_migrations(old_database)
    assert str(refused.value) == (
        f"db init: the database was migrated by the old migration chain ({', '.join(OLD_HEADS)}): "
        "run `supplychain db upgrade-squashed` first (docs/upgrading.md)"
    )
    assert await _versions(old_database) == OLD_HEADS


async def _stamp_initial_revisions(engine: AsyncEngine) -> None:
    """What the initial revisions left before `seq` was drawn by a trigger: the old heads' schema, at the new names."""
    async with engine.begin() as conn:
        for server in SQUASHED_SERVERS:
            await conn.execute(
                text(f"UPDATE {VERSION_TABLE} SET version_num = :new WHERE version_num = :old"),
                {"new": initial_revision(server), "old": f"{server}_0700"},
            )


async def _append_as_owner(engine: AsyncEngine, *, seq: int | None = None) -> None:
    """One inventory audit row of tenant `acme`, inserted as the tables' owner; with `seq`, choosing it."""
    chosen = ("seq, ", f"{seq}, ", " OVERRIDING SYSTEM VALUE") if seq is not None else ("", "", "")
    row = f"'au_{secrets.token_hex(10)}', 'acme', now(), 'ana@acme', 'cli', 'cli', 'stdio', 't', '{{}}', "
    row += f"'{'0' * 64}', 'not_required', 'ok', 0, 0, '{'0' * 64}', '{secrets.token_hex(32)}'"
    async with engine.execution_options(isolation_level="READ COMMITTED").begin() as conn:  # not autocommit
        await conn.execute(text(f"SET LOCAL ROLE {OWNER_ROLE}"))
        await conn.execute(text("SELECT set_config('app.tenant_id', 'acme', true)"))
        await conn.execute(
            text(
                f"INSERT INTO inventory.audit_log ({chosen[0]}id, tenant_id, occurred_at, user_id, client_id, "
                "actor_kind, transport, tool, arguments, arguments_sha256, decision, outcome, output_bytes, "
                f"latency_ms, prev_hash, hash){chosen[2]} VALUES ({chosen[1]}{row})"
            )
        )


async def _seqs(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return [row[0] for row in await conn.execute(text("SELECT seq FROM inventory.audit_log ORDER BY seq"))]


async def test_a_database_at_the_initial_revisions_with_a_choosable_seq_is_refused_by_db_init_then_upgraded(
    old_database: AsyncEngine, admin_url: str, tmp_path: Path
) -> None:
    await _legacy_upgrade(old_database, "heads")
    await _stamp_initial_revisions(old_database)
    await _append_as_owner(old_database)
    await _append_as_owner(old_database, seq=1000)  # what the server role could do, too
    assert await _seqs(old_database) == [1, 1000]

    with pytest.raises(AdminError) as refused:
        await run_migrations(old_database)
    assert str(refused.value) == (
        f"db init: the audit log of {', '.join(SQUASHED_SERVERS)} was made before `seq` was drawn by a trigger "
        "(the server role could choose it): run `supplychain db upgrade-squashed` (docs/upgrading.md)"
    )

    code, out, err = await _upgrade_squashed(old_database, tmp_path)
    assert (code, err) == (0, ""), err
    assert sorted(out.splitlines()) == sorted(
        [f"{revision}: already on this checkout's revisions" for revision in NEW_REVISIONS]
        + SEQ_UPGRADED
        + SESSIONS_ADDED
    )
    await run_migrations(old_database)  # `db init` accepts it now
    for server in SQUASHED_SERVERS:
        assert await schema_catalog(old_database, server) == read_snapshot(server), server
    await _append_as_owner(old_database)  # continues after the last number the identity gave
    await _append_as_owner(old_database, seq=5000)  # replaced by the trigger
    assert await _seqs(old_database) == [1, 2, 3, 1000]
