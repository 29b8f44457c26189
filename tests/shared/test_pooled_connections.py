"""The pool without SQLAlchemy's pre-ping (`securemcp.tenancy.database`): closed connections are replaced at checkout.

Pre-ping cost three round trips on every call (`supplychain bench`), so `securemcp.tenancy.database` checks instead
whether asyncpg has seen the connection close. These tests close a pooled connection from the
database side, as a restart or an administrator does, and prove:
- the next checkout gets a fresh connection and the statement succeeds (no failed call);
- a statement sent straight on the driver (the audit append) that fails because its connection was
  closed under it surfaces as "temporarily unavailable", like every other database outage.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from securemcp.errors import TemporarilyUnavailableError, database_unavailable
from securemcp.tenancy.database import create_engine, driver_connection, driver_failures
from sqlalchemy import text

from tests.helpers import admin_rows


async def _terminate(admin_url: str, backend: int) -> None:
    rows = await admin_rows(admin_url, "SELECT pg_terminate_backend(:pid)", pid=backend)
    assert rows == [(True,)]


async def _until_closed(connection: object) -> None:
    for _ in range(100):  # asyncpg learns of the close when the loop reads the socket
        if connection.is_closed():  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("asyncpg never saw the connection close")


async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    engine = create_engine(server_urls["inventory"], pool_size=1)
    try:
        async with engine.connect() as conn:
            backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            driver = await driver_connection(conn)
        await _terminate(admin_url, backend)
        await _until_closed(driver)
        async with engine.connect() as conn:  # the pool's only connection was the closed one
            fresh = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert fresh != backend
    finally:
        await engine.dispose()


async def test_a_driver_statement_on_a_connection_closed_under_it_is_temporarily_unavailable(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    engine = create_engine(server_urls["inventory"], pool_size=1)
    try:
        async with engine.connect() as conn:
            driver = await driver_connection(conn)
            backend = await driver.fetchval("SELECT pg_backend_pid()")
            await _terminate(admin_url, backend)
            with pytest.raises(TemporarilyUnavailableError):
                async with driver_failures(driver):
                    await driver.fetchval("SELECT 1")
            await conn.invalidate()
    finally:
        await engine.dispose()


async def test_a_value_the_driver_refuses_is_not_an_outage(server_urls: dict[str, str]) -> None:
    """Bad values are bugs or bad input, never "temporarily unavailable, retry" (which hides the traceback)."""
    engine = create_engine(server_urls["inventory"], pool_size=1)
    try:
        async with engine.connect() as conn:
            driver = await driver_connection(conn)
            with pytest.raises(asyncpg.exceptions.DataError, match="invalid input") as raised:
                async with driver_failures(driver):
                    await driver.fetchval("SELECT $1::int", 2**40)  # out of range: refused before sending
    finally:
        await engine.dispose()
    assert database_unavailable(raised.value) is False
    # asyncpg's other DataError is an InterfaceError (listed as "connection is closed") and a ValueError.
    assert database_unavailable(asyncpg.exceptions._base.DataError("invalid input for query argument $1")) is False


async def test_other_driver_failures_pass_through_unchanged(server_urls: dict[str, str]) -> None:
    """A failure of the statement itself (here: a permission) is not dressed up as an outage."""
    engine = create_engine(server_urls["inventory"], pool_size=1)
    try:
        async with engine.connect() as conn:
            driver = await driver_connection(conn)
            with pytest.raises(Exception, match="permission denied") as raised:
                async with driver_failures(driver):
                    await driver.execute("DELETE FROM inventory.audit_log")
            assert not isinstance(raised.value, TemporarilyUnavailableError)
    finally:
        await engine.dispose()
