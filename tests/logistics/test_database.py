"""The database layer on its own: what the logistics credential may do, with no MCP in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from securemcp.tenancy.database import async_url
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from fixtures.logistics import records
from tests.helpers import admin_rows
from tests.logistics.builders import IN_TRANSIT


@pytest.fixture
async def as_logistics(server_urls: dict[str, str], seeded: None) -> AsyncIterator[AsyncConnection]:
    """A connection as `logistics_svc`, inside a transaction scoped to acme (rolled back afterwards)."""
    engine = create_async_engine(async_url(server_urls["logistics"]))
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT set_config('app.tenant_id', 'acme', true)"))
            yield conn
    finally:
        await engine.dispose()


async def test_fixtures_give_each_tenant_carriers_and_shipments_in_every_status(admin_url: str, seeded: None) -> None:
    carriers = await admin_rows(admin_url, "SELECT tenant_id, count(*) FROM logistics.carriers GROUP BY 1 ORDER BY 1")
    statuses = await admin_rows(
        admin_url, "SELECT tenant_id, array_agg(DISTINCT status ORDER BY status) FROM logistics.shipments GROUP BY 1"
    )
    events = await admin_rows(
        admin_url,
        "SELECT min(n), max(n) FROM (SELECT count(e.id) AS n FROM logistics.shipments s "
        "LEFT JOIN logistics.tracking_events e ON e.shipment_id = s.id GROUP BY s.id) AS per_shipment",
    )
    assert carriers == [("acme", 3), ("globex", 3)]
    every_status = ["created", "delayed", "delivered", "in_transit", "returned"]
    assert sorted(statuses) == [("acme", every_status), ("globex", every_status)]
    assert events == [(2, 4)]
    assert len(records()) == 4 + 6 + 11 + 33


async def test_rows_of_other_tenants_are_invisible_to_the_role(as_logistics: AsyncConnection) -> None:
    tenants = await as_logistics.execute(text("SELECT DISTINCT tenant_id FROM logistics.shipments"))
    assert [row[0] for row in tenants] == ["acme"]


async def test_without_a_tenant_the_role_reads_nothing(server_urls: dict[str, str], seeded: None) -> None:
    engine = create_async_engine(async_url(server_urls["logistics"]))
    try:
        async with engine.connect() as conn:
            count = await conn.execute(text("SELECT count(*) FROM logistics.shipments"))
            assert count.scalar_one() == 0
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE logistics.shipments SET status = 'delivered'",
        "UPDATE logistics.shipments SET tenant_id = 'globex'",
        "UPDATE logistics.tracking_events SET detail = 'nothing happened'",
        "DELETE FROM logistics.tracking_events",
        "DELETE FROM logistics.shipments",
        "INSERT INTO logistics.carriers VALUES ('ca_x', 'acme', 'X', 'X', 'air')",
        "SELECT count(*) FROM inventory.warehouses",
        "CREATE TABLE logistics.scratch (id text)",
    ],
)
async def test_the_role_holds_only_the_grants_its_tools_need(as_logistics: AsyncConnection, statement: str) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        await as_logistics.execute(text(statement))


async def test_the_role_cannot_insert_rows_for_another_tenant(as_logistics: AsyncConnection) -> None:
    with pytest.raises(DBAPIError, match="row-level security"):
        await as_logistics.execute(
            text(
                "INSERT INTO logistics.tracking_events (id, tenant_id, shipment_id, kind, detail) "
                "VALUES ('te_x', 'globex', :s, 'rerouted', 'forged')"
            ),
            {"s": IN_TRANSIT},
        )
