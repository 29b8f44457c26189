"""Read tools on the driver: a SQLModel `select` compiled once, sent as a prepared statement.

How a read tool uses it (servers/inventory is the example):

    # service.py: the statement, written in SQLModel, with the tenant as a bound parameter
    STOCK_LEVEL = read_statement(select(StockLevel).where(
        StockLevel.tenant_id == bindparam("tenant_id"), StockLevel.sku == bindparam("sku"), ...))

    # tools.py: the caller runs it in the call's tenant transaction
    row = await caller.read_one(service.STOCK_LEVEL, sku=sku, warehouse_code=warehouse)
    return StockLevelPublic.of(row)

Why: the ORM session costs more per call than the query itself (open, scope, query, build objects,
commit, close, each through a greenlet; measured by `supplychain bench`). Here the statement is compiled to SQL
once, at import; asyncpg prepares it once per pooled connection and reuses it; rows come back as
records whose columns read as attributes, so the same `...Public.of(row)` builds the answer.

Tenancy, twice, as everywhere: `read_statement` refuses a statement without a `tenant_id` parameter,
and the value of that parameter is always the caller's verified tenant (a tool cannot pass one); the
transaction it runs in is scoped by `securemcp.tenancy.database.set_tenant`, so row-level security applies too.
Writes stay in the ORM session (`caller.transaction()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import Select
from sqlmodel.sql.expression import SelectOfScalar

TENANT = "tenant_id"
_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]

RowT = TypeVar("RowT")


class Row(asyncpg.Record):  # type: ignore[misc]  # asyncpg ships no types
    """A record whose columns also read as attributes (`row.sku`), like the table model they come from."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, slots=True)
class ReadStatement(Generic[RowT]):
    """A compiled read: its SQL (positional `$n` parameters) and the parameter names in that order."""

    sql: str
    parameters: tuple[str, ...]

    def arguments(self, tenant_id: str, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments: the tenant from the verified caller, the rest from `values`."""
        if TENANT in values:
            raise ValueError("the tenant of a read is the caller's; it is never passed in")
        return [tenant_id if name == TENANT else values[name] for name in self.parameters]


def read_statement(query: SelectOfScalar[RowT] | Select[tuple[RowT]]) -> ReadStatement[RowT]:
    """Compile `query` once for the driver; refuses a query that does not filter by the tenant parameter."""
    compiled = query.compile(dialect=_DIALECT)
    parameters = tuple(compiled.positiontup or ())
    if TENANT not in parameters:
        raise ValueError(f"a read must filter by tenant: add {TENANT} == bindparam({TENANT!r}) to {query}")
    return ReadStatement(str(compiled), parameters)


async def fetch_one(
    connection: asyncpg.Connection, statement: ReadStatement[RowT], tenant_id: str, values: Mapping[str, Any]
) -> RowT | None:
    """The first row of `statement` for `tenant_id`, or None."""
    row = await connection.fetchrow(statement.sql, *statement.arguments(tenant_id, values), record_class=Row)
    # A record of the table's columns, read by attribute as the table model would be (no ORM object built).
    return cast("RowT | None", row)


async def fetch_all(
    connection: asyncpg.Connection, statement: ReadStatement[RowT], tenant_id: str, values: Mapping[str, Any]
) -> list[RowT]:
    """Every row of `statement` for `tenant_id`."""
    rows = await connection.fetch(statement.sql, *statement.arguments(tenant_id, values), record_class=Row)
    return cast("list[RowT]", rows)
