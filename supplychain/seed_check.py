"""Before `db seed` truncates anything: does every server's schema have the tables and columns its fixtures fill?

When it does not, the seed would stop half-way inside SQLAlchemy with a long traceback. Two causes are
common, and each has one command that fixes it: a database never initialised (`db init`), or a
migration edited after it ran, typically a server's first one, so the schema no longer matches it
(`db reset` rebuilds the embedded cluster from the migrations; a database you run needs its schema
dropped and `db init` again).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from supplychain.revisions import applied_revisions, branch_revisions


async def missing_for_fixtures(conn: AsyncConnection, server: str, models: Iterable[type[SQLModel]]) -> list[str]:
    """The tables (`schema.table`) and columns (`schema.table.column`) the fixtures of `server` need but lack."""
    # From the catalog itself: information_schema would hide a table the admin holds no privilege on.
    rows = await conn.execute(
        text(
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        {"s": server},
    )
    present: dict[str, set[str]] = {}
    for table_name, column_name in rows:
        present.setdefault(table_name, set()).add(column_name)
    missing: list[str] = []
    for model in models:
        table = model.__table__  # type: ignore[attr-defined]
        if table.name not in present:
            missing.append(f"{server}.{table.name}")
        else:
            missing += [f"{server}.{table.name}.{c.name}" for c in table.columns if c.name not in present[table.name]]
    return missing


async def what_to_run(conn: AsyncConnection, server: str, *, embedded: bool) -> str:
    """The command that gives `server` the schema its migrations make, for a seed that found it lacking."""
    if not branch_revisions(server) & set(await applied_revisions(conn) or []):
        return "run `supplychain db init` first"
    if embedded:
        return "its schema differs from its migrations: run `supplychain db reset` (remakes the database, data gone)"
    return f"its schema differs from its migrations: drop schema {server} and run `supplychain db init`"
