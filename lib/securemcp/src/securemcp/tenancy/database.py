"""Database access: one engine per process, and the only function that sets the tenant.

`set_tenant` (used by `tenant_transaction`, `open_tenant_reads` and each tool call's transaction in
`securemcp.audit.records`) is the single place in the Python code that tells Postgres who the tenant
is; the audit trail's batch functions (`securemcp.schema.audit_append`) do the same in SQL for each
tenant of a batch. It runs
`set_config('app.tenant_id', ..., true)` with bound parameters inside the transaction, so the
setting is local to that transaction and cannot leak to the next user of a pooled connection.
Row-level security policies read it; services also filter by tenant in their own queries (two layers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction
from sqlalchemy import Column, DateTime, event, func
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from securemcp.errors import TemporarilyUnavailableError, database_unavailable
from securemcp.identity.principal import Identity

CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 30.0

_SET_TENANT = "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)"


def async_url(url: str) -> str:
    """The same database URL with the asyncpg driver, whatever driver it named."""
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 5, pool_timeout: float = 5.0) -> AsyncEngine:
    """Create the process's engine and pool (call once per server process)."""
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        # No pre-ping: SQLAlchemy's costs three round trips per checkout, on every call (measured
        # by `supplychain bench`). A connection the server closed (restart, idle timeout) is seen by
        # asyncpg at once and replaced at checkout (`_closed_connection_is_replaced`); one that dies
        # under a query fails that call with "temporarily unavailable" and invalidates the pool.
        pool_pre_ping=False,
        # asyncpg caches prepared statements per connection; with RLS the plans stay correct
        # because the policy reads the setting at execution time.
        connect_args={
            "server_settings": {"application_name": "supplychain-mcp"},
            # Fail fast instead of hanging when the database is away (docs/reliability.md).
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "command_timeout": COMMAND_TIMEOUT_SECONDS,
        },
    )
    event.listen(engine.sync_engine, "handle_error", _unavailable_as_tool_error)
    event.listen(engine.sync_engine.pool, "checkout", _closed_connection_is_replaced)
    return engine


def _closed_connection_is_replaced(_dbapi: Any, _record: Any, proxy: PoolProxiedConnection) -> None:
    """Refuse a pooled connection that is already closed; the pool then opens a fresh one."""
    if proxy.driver_connection is None or proxy.driver_connection.is_closed():
        raise DisconnectionError("pooled connection was closed by the server")


def _unavailable_as_tool_error(context: ExceptionContext) -> None:
    """Turn "the database cannot be reached" into the tool error clients see (`TemporarilyUnavailableError`)."""
    if context.is_disconnect or database_unavailable(context.original_exception):
        raise TemporarilyUnavailableError() from context.original_exception


@asynccontextmanager
async def tenant_transaction(engine: AsyncEngine, identity: Identity) -> AsyncIterator[AsyncSession]:
    """Open a transaction scoped to `identity`'s tenant and yield its session.

    Commits when the block finishes, rolls back when it raises. Every query inside sees only the
    tenant's rows (row-level security), whatever the query itself says.
    """
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        await set_tenant(session, identity)
        yield session


async def set_tenant(on: AsyncSession | asyncpg.Connection, identity: Identity) -> None:
    """Scope the open transaction (of a session or a driver connection) to `identity`'s tenant, until it ends."""
    if isinstance(on, asyncpg.Connection):
        async with driver_failures(on):
            await on.execute(_SET_TENANT, identity.tenant_id, identity.user_id)
        return
    # Through SQLAlchemy, not its driver: the session's BEGIN is sent lazily, with its first statement.
    connection = await on.connection()
    await connection.exec_driver_sql(_SET_TENANT, (identity.tenant_id, identity.user_id))


class TenantReads:
    """A transaction straight on the driver, scoped to one tenant: the read path of read tools.

    Opened by `open_tenant_reads`; its owner commits it or closes it (closing rolls back what is open).
    """

    def __init__(self, connection: AsyncConnection, driver: asyncpg.Connection, transaction: Transaction) -> None:
        self.connection, self.driver, self._transaction = connection, driver, transaction

    async def commit(self) -> None:
        """Commit the transaction (the connection stays held until `close`)."""
        async with driver_failures(self.driver):
            await self._transaction.commit()

    async def close(self) -> None:
        """Roll back whatever is still open and give the connection back to the pool."""
        try:
            if self.driver.is_in_transaction() and not self.driver.is_closed():
                await self._transaction.rollback()
        finally:
            # The transaction bypassed SQLAlchemy: a connection in an unknown state does not go back.
            if self.driver.is_closed() or self.driver.is_in_transaction():
                await self.connection.invalidate()
            await self.connection.close()


async def open_tenant_reads(engine: AsyncEngine, identity: Identity) -> TenantReads:
    """Check out a connection, begin a transaction on its driver and scope it to `identity`'s tenant."""
    connection = await engine.connect()
    try:
        driver = await driver_connection(connection)
        transaction = driver.transaction()
        async with driver_failures(driver):
            await transaction.start()
        reads = TenantReads(connection, driver, transaction)
        await set_tenant(driver, identity)
    except BaseException:
        await connection.invalidate()
        await connection.close()
        raise
    return reads


@asynccontextmanager
async def tenant_reads(engine: AsyncEngine, identity: Identity) -> AsyncIterator[asyncpg.Connection]:
    """A short driver transaction scoped to `identity`'s tenant, committed when the block ends."""
    reads = await open_tenant_reads(engine, identity)
    try:
        yield reads.driver
        await reads.commit()
    finally:
        await reads.close()


async def driver_connection(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one (statements sent on it join its transaction)."""
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


@asynccontextmanager
async def driver_failures(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """Statements sent straight on the driver bypass the engine's error hook; apply its rule here.

    A failure on a connection that is now closed (the database restarted or went away under it) is
    "temporarily unavailable", whatever asyncpg called it (measured in tests/faults: a shutdown in the
    middle of a commit surfaces as `InternalClientError`).
    """
    try:
        yield
    except Exception as failure:
        if connection.is_closed() and not isinstance(failure, TemporarilyUnavailableError):
            raise TemporarilyUnavailableError() from failure
        raise


def utc_now() -> datetime:
    """The current time, timezone-aware (the default for timestamp columns)."""
    return datetime.now(UTC)


def timestamp_column() -> Column[datetime]:
    """A `timestamptz NOT NULL DEFAULT now()` column for SQLModel's `sa_column=`."""
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())
