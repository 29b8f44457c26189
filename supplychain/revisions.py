"""Which Alembic revisions this checkout knows, which ones a database has applied, and the old chain's heads.

Until the squash, each of the four original servers had a chain of eight revisions, `<server>_0001` to
`<server>_0700`; now each server has one, `<server>_0001_initial`. A database migrated by the old chain
names revisions this checkout no longer has: `supplychain db upgrade-squashed` moves it across
(`supplychain.squashed`), and `db init` refuses it until then instead of failing inside Alembic.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from migrations import META_SCHEMA

# Alembic's version table: one row per server branch, naming the revision it is at.
VERSION_TABLE = f"{META_SCHEMA}.alembic_version"
# The servers whose migrations were squashed, and the last revision of their old chain.
SQUASHED_SERVERS = ("inventory", "logistics", "returns", "payments")
LEGACY_HEAD_NUMBER = "0700"


def legacy_head(server: str) -> str:
    """The last revision of `server`'s old chain: a database there holds exactly the squashed revision's schema."""
    return f"{server}_{LEGACY_HEAD_NUMBER}"


def alembic_config() -> Config:
    """Alembic configuration for the project's migrations (one branch per server)."""
    config = Config()
    config.set_main_option("script_location", str(Path(import_module("migrations").__file__ or "").parent))
    return config


def known_revisions() -> set[str]:
    """Every revision in the checkout's migrations."""
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def branch_revisions(server: str) -> set[str]:
    """The revisions of `server`'s branch in the checkout's migrations (none for a server without one)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        return {script.revision for script in scripts.iterate_revisions(f"{server}@head", "base")}
    except CommandError:
        return set()


async def applied_revisions(conn: AsyncConnection) -> list[str] | None:
    """The revisions in the database's version table (one per server branch), or None before any migration."""
    exists = await conn.execute(text("SELECT to_regclass(:t)"), {"t": VERSION_TABLE})
    if exists.scalar_one() is None:
        return None
    rows = await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE} ORDER BY version_num"))  # noqa: S608 (a constant)
    return [row[0] for row in rows]


def unknown_revisions_message(unknown: list[str]) -> str:
    """One line for `db init` when the database names revisions the checkout does not have."""
    legacy = [revision for revision in unknown if revision.startswith(tuple(f"{s}_0" for s in SQUASHED_SERVERS))]
    if legacy:
        return (
            f"the database was migrated by the old migration chain ({', '.join(legacy)}): "
            "run `supplychain db upgrade-squashed` first (docs/upgrading.md)"
        )
    return f"the database is at {', '.join(unknown)}, which no migration in this checkout knows"
