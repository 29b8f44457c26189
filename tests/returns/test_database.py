"""The second layer: what the returns server's own Postgres role can do, whatever the code asks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from securemcp.tenancy.database import create_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.returns.builders import CRUSHED_BOX

pytestmark = pytest.mark.usefixtures("seeded")

SET_TENANT = "SELECT set_config('app.tenant_id', :tenant, true)"


@pytest.fixture
async def returns_engine(server_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(server_urls["returns"], pool_size=1)
    yield engine
    await engine.dispose()


async def _count(engine: AsyncEngine, tenant: str | None) -> int:
    async with engine.begin() as conn:
        if tenant is not None:
            await conn.execute(text(SET_TENANT), {"tenant": tenant})
        return (await conn.execute(text("SELECT count(*) FROM returns.return_authorisations"))).scalar_one()


async def test_row_level_security_shows_the_role_only_the_tenant_it_set(returns_engine: AsyncEngine) -> None:
    assert await _count(returns_engine, None) == 0  # no tenant set: nothing, not everything
    assert await _count(returns_engine, "acme") == 6
    assert await _count(returns_engine, "globex") == 5


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE returns.return_authorisations SET customer_note = 'x' WHERE id = :id",
        "UPDATE returns.return_authorisations SET quantity = 9999 WHERE id = :id",
        "UPDATE returns.return_authorisations SET tenant_id = 'globex' WHERE id = :id",
        "DELETE FROM returns.return_authorisations WHERE id = :id",
        "INSERT INTO returns.order_lines (id, tenant_id, order_reference, sku, description, quantity, delivered_at) "
        "VALUES (:id, 'acme', 'SO-99999', 'BOX-M', 'x', 1, now())",
        "UPDATE returns.order_lines SET quantity = 1 WHERE id = :id",
        "SELECT * FROM inventory.reorders WHERE id = :id",
    ],
)
async def test_the_role_may_not_write_beyond_a_decision_nor_read_other_schemas(
    returns_engine: AsyncEngine, statement: str
) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        async with returns_engine.begin() as conn:
            await conn.execute(text(SET_TENANT), {"tenant": "acme"})
            await conn.execute(text(statement), {"id": CRUSHED_BOX})


async def test_the_role_cannot_move_a_decision_into_another_tenant(returns_engine: AsyncEngine) -> None:
    # Column grants allow a decision; row-level security still hides globex rows from an acme transaction.
    async with returns_engine.begin() as conn:
        await conn.execute(text(SET_TENANT), {"tenant": "acme"})
        result = await conn.execute(
            text(
                "UPDATE returns.return_authorisations SET status = 'approved', decided_by = 'x', "
                "decided_at = now() WHERE tenant_id = 'globex'"
            )
        )
    assert result.rowcount == 0
