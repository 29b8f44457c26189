"""`supplychain demo` seeds only a fresh database: `database_is_seeded` reads a registered server's table."""

from __future__ import annotations

from sqlalchemy import text

from deployment.registry import SERVERS
from supplychain.admin import admin_engine, database_is_seeded, fixture_records, seed_database


async def test_seeded_until_the_first_registered_servers_first_fixture_table_is_empty(
    admin_url: str, seeded: None
) -> None:
    assert await database_is_seeded(admin_url)
    table = type(fixture_records(SERVERS[0])[0]).__table__
    engine = admin_engine(admin_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {table.schema}.{table.name} CASCADE"))
        assert not await database_is_seeded(admin_url)
    finally:
        await engine.dispose()
        await seed_database(admin_url)  # the other tests' data back
