"""What each tenant owns, read with the admin credential, and checks that an answer shows only the caller's.

`Ledger` keeps one admin connection open across a fuzz run (a snapshot per example would otherwise
open an engine each time). `owners` maps every value that only one tenant's rows hold, in an id or
code column, to that tenant: such a value in another tenant's answer is a leak.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from deployment.registry import SERVERS

ID_SHAPED = re.compile(r"\b[a-z]{2,4}_[0-9a-f]{20}\b")
_OWNED_COLUMN = re.compile(r"^(id|code|.*_id|.*_code)$")
_NOT_OWNED = {"tenant_id", "user_id", "requested_by", "decided_by", "created_by", "request_id", "client_id"}


class Ledger:
    """Snapshots of a schema's domain tables, and who owns which id, over one admin connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def tables(self, schema: str) -> list[str]:
        rows = await self.conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'audit_log' ORDER BY 1"),
            {"s": schema},
        )
        return [name for (name,) in rows]

    async def snapshot(self, schema: str, *, except_tenant: str | None = None) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every domain table (all tenants, or all but `except_tenant`), sorted."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in await self.tables(schema):
            result = await self.conn.execute(text(f"SELECT * FROM {schema}.{table}"))
            tenant_column = list(result.keys()).index("tenant_id")
            rows = [tuple(row) for row in result if except_tenant is None or row[tenant_column] != except_tenant]
            out[table] = sorted(rows, key=repr)
        await self.conn.commit()  # end the read transaction: the next snapshot must see new commits
        return out

    async def audit_count(self, schema: str) -> int:
        count = (await self.conn.execute(text(f"SELECT count(*) FROM {schema}.audit_log"))).scalar_one()
        await self.conn.commit()
        return int(count)

    async def owners(self) -> dict[str, str]:
        """Values of id/code columns held by exactly one tenant, mapped to it."""
        holders: dict[str, set[str]] = defaultdict(set)
        for schema in SERVERS:
            for table in await self.tables(schema):
                result = await self.conn.execute(text(f"SELECT * FROM {schema}.{table}"))
                columns = [c for c in list(result.keys()) if _OWNED_COLUMN.match(c) and c not in _NOT_OWNED]
                for row in result.mappings():
                    for column in columns:
                        if isinstance(row[column], str):
                            holders[row[column]].add(row["tenant_id"])
        await self.conn.commit()
        return {value: next(iter(tenants)) for value, tenants in holders.items() if len(tenants) == 1}


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (key, string) leaf of a JSON value."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            yield from _strings(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)
    elif isinstance(value, str):
        yield key, value


def sent_values(arguments: Any) -> set[str]:
    """The strings in a call's arguments, and the ids inside them."""
    return {found for _key, value in _strings(arguments) for found in (value, *ID_SHAPED.findall(value))}


def foreign_values(answer: Any, *, tenant: str, owners: Mapping[str, str], sent: set[str]) -> list[str]:
    """What in `answer` (structured content and text) belongs to a tenant other than `tenant`.

    Values the caller itself sent (`sent`) are not counted: an error may name the id it could not find,
    and the activity log and approvals show the caller's own earlier arguments.
    """
    leaks: list[str] = []
    for key, value in _strings(answer):
        if key == "tenant_id" and value != tenant:
            leaks.append(f"tenant_id={value}")
        candidates = {value, *ID_SHAPED.findall(value)}
        leaks += [c for c in candidates if c not in sent and owners.get(c, tenant) != tenant]
    return leaks
