"""The database layer on its own: what the inventory credential may do, with no MCP in front of it."""

from __future__ import annotations

import pytest
from securemcp.tenancy.database import create_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

pytestmark = pytest.mark.usefixtures("seeded")


async def test_writing_a_row_for_another_tenant_fails(server_urls: dict[str, str]) -> None:
    engine = create_engine(server_urls["inventory"])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="row-level security"):
                async with conn.begin():
                    await conn.execute(text("SELECT set_config('app.tenant_id', 'globex', true)"))
                    await conn.execute(
                        text(
                            "INSERT INTO inventory.reorders "
                            "(id, tenant_id, warehouse_code, sku, quantity, status, requested_by) "
                            "VALUES ('ro_ffffffffffffffffffff', 'acme', 'AMS-1', 'TAPE-48', 1, 'open', 'bob@globex')"
                        )
                    )
    finally:
        await engine.dispose()


async def test_insert_with_no_tenant_set_fails(server_urls: dict[str, str]) -> None:
    engine = create_engine(server_urls["inventory"])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="row-level security"):
                async with conn.begin():
                    await conn.execute(
                        text(
                            "INSERT INTO inventory.reorders "
                            "(id, tenant_id, warehouse_code, sku, quantity, status, requested_by) "
                            "VALUES ('ro_eeeeeeeeeeeeeeeeeeee', 'acme', 'AMS-1', 'TAPE-48', 1, 'open', 'x@acme')"
                        )
                    )
    finally:
        await engine.dispose()
