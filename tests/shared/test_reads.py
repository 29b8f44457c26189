"""The read path on the driver (`securemcp.tenancy.reads`) is tenant-scoped twice: in the statement and by RLS.

Each layer is attacked with the other one removed: a statement that forgets its tenant filter still
sees only the caller's rows (row-level security, scoped by `securemcp.tenancy.database.set_tenant`), and the real
statement run where row-level security does not apply (the admin role bypasses it) still returns only
the tenant it is given.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from securemcp.runtime.caller import Caller
from securemcp.tenancy.database import create_engine, driver_connection
from securemcp.tenancy.reads import ReadStatement, fetch_one, read_statement
from sqlalchemy import bindparam
from sqlmodel import col, select

from deployment.registry import SERVERS
from servers.inventory import service
from servers.inventory.models import StockLevel
from supplychain.admin import admin_engine
from tests.helpers import identity

ACME_ONLY = {"sku": "BOLT-M8", "warehouse_code": "AMS-1"}  # AMS-1 is a warehouse of acme alone

# The bug the first layer exists for: the tenant is bound but filters nothing.
_UNFILTERED: ReadStatement[StockLevel] = ReadStatement(
    sql="SELECT sku, on_hand FROM inventory.stock_levels "
    "WHERE $1::text IS NOT NULL AND sku = $2 AND warehouse_code = $3",
    parameters=("tenant_id", "sku", "warehouse_code"),
)


@pytest.mark.usefixtures("seeded")
async def test_statement_without_tenant_filter_still_sees_only_callers_rows(server_urls: dict[str, str]) -> None:
    engine = create_engine(server_urls["inventory"])
    try:
        acme = await Caller(identity=identity("alice@acme"), engine=engine).read_one(_UNFILTERED, **ACME_ONLY)
        globex = await Caller(identity=identity("bob@globex"), engine=engine).read_one(_UNFILTERED, **ACME_ONLY)
    finally:
        await engine.dispose()
    assert acme is not None and acme.sku == "BOLT-M8"  # the tenant is set: RLS lets acme see its row
    assert globex is None  # and RLS alone hides it from globex


@pytest.mark.usefixtures("seeded")
async def test_statement_filters_by_tenant_where_row_level_security_does_not_apply(admin_url: str) -> None:
    engine = admin_engine(admin_url)  # the admin role bypasses row-level security
    try:
        async with engine.connect() as connection:
            driver = await driver_connection(connection)
            acme = await fetch_one(driver, service.STOCK_LEVEL, "acme", ACME_ONLY)
            globex = await fetch_one(driver, service.STOCK_LEVEL, "globex", ACME_ONLY)
    finally:
        await engine.dispose()
    assert acme is not None and acme.on_hand == 1200
    assert globex is None  # the statement's own tenant filter hides acme's row


def test_read_statement_refuses_a_query_without_the_tenant_parameter() -> None:
    query = select(StockLevel).where(col(StockLevel.sku) == bindparam("sku"))
    with pytest.raises(ValueError, match="a read must filter by tenant"):
        read_statement(query)


def test_a_tool_cannot_pass_the_tenant_of_a_read() -> None:
    with pytest.raises(ValueError, match="never passed in"):
        service.STOCK_LEVEL.arguments("globex", {"tenant_id": "acme", **ACME_ONLY})


def _read_statements(module: object) -> Iterator[tuple[str, ReadStatement[Any]]]:
    """Every statement a service offers: its constants, and each filter combination of its builders."""
    for name, value in vars(module).items():
        if isinstance(value, ReadStatement):
            yield name, value
        elif callable(value) and name.endswith("_statement") and value.__module__ == getattr(module, "__name__", ""):
            flags = list(inspect.signature(value).parameters)
            for combination in itertools.product((False, True), repeat=len(flags)):
                yield f"{name}{combination}", value(**dict(zip(flags, combination, strict=True)))


@pytest.mark.parametrize("server", SERVERS)
def test_every_read_statement_of_every_server_compares_tenant_id_with_the_callers_tenant(server: str) -> None:
    found = 0
    for name, statement in _read_statements(importlib.import_module(f"servers.{server}.service")):
        found += 1
        number = statement.parameters.index("tenant_id") + 1
        where = statement.sql.split("WHERE", 1)[-1]
        assert re.search(rf"\.tenant_id = \${number}\b", where), f"{server}.{name} does not filter by tenant"
    # Every server reads (a list tool at least): a scan that found nothing would pass without checking.
    assert found > 0
