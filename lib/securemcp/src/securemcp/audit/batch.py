"""Group commit for the audit records of successful calls that changed nothing (reads, replays answered
from an idempotency key, and the round of a side-effecting call that only asks its human).

Why: each record extends its tenant's hash chain under a per-tenant lock held until commit, and a
commit waits for the WAL flush. One record per transaction therefore caps one tenant at one call
per flush (measured by `supplychain bench`: about 300 audited reads/s against 3,600 plain ones on
the benchmark machine), and concurrent calls of a tenant queue behind each other's flushes.

How: a call that changed nothing commits its read transaction (no WAL flush), hands its record to
the batcher and waits. Per schema one flush at a time takes every record waiting and writes them in
one transaction: tenant by tenant (in sorted order, so two processes never wait for each other's
locks in opposite orders), it sets the tenant, takes that tenant's chain lock, chains its records
in arrival order and inserts them, in two round trips for all tenants together (straight on the
asyncpg connection, see `securemcp.audit.chain.append_all`); then one commit, one WAL flush, for all of
them. Each call still answers only after its own record is committed. If the database is away, every
call in the batch fails ("temporarily unavailable"); if Postgres refuses the batch for another reason,
each record is written alone, so only the call whose record cannot be written fails ("could not be
recorded").

Calls that changed something never come here: their change and their record commit in one transaction;
refusals and failures are recorded in a transaction of their own
(`securemcp.runtime.unit_of_work.CallUnitOfWork.finish`).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from securemcp.audit.chain import append_all
from securemcp.audit.checkpoints import note_written
from securemcp.errors import database_unavailable
from securemcp.tenancy.database import driver_connection, driver_failures

_Waiting = list[tuple[dict[str, Any], "asyncio.Future[None]"]]  # records and their callers' futures


class AuditBatcher:
    """The waiting records of one engine (one server process), flushed per schema."""

    def __init__(self, engine: AsyncEngine) -> None:
        # Weakly: `_batchers` holds this batcher by its engine, and a strong reference back would keep
        # every engine (and its pool) alive for ever.
        self._engine = weakref.ref(engine)
        self._waiting: dict[str, _Waiting] = {}
        self._flushing: dict[str, asyncio.Task[None]] = {}
        self._alone: set[str] = set()

    def write_alone(self, schema: str) -> bool:
        """Claim `schema`'s chains for one record written in its call's own transaction; False when busy.

        True only when no batch of `schema` is being written and no other call holds the claim (one
        client): concurrent calls then wait for one flush together instead of one each, and never queue
        on each other's chain locks while holding pooled connections. `done_alone` gives the claim back.
        """
        if schema in self._flushing or schema in self._alone:
            return False
        self._alone.add(schema)
        return True

    def done_alone(self, schema: str) -> None:
        """Give back the claim `write_alone` took."""
        self._alone.discard(schema)

    async def append(self, schema: str, record: dict[str, Any]) -> None:
        """Return once `record` is committed in its tenant's chain; raise if it could not be."""
        key = schema
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((record, done))
        if key not in self._flushing:
            self._flushing[key] = asyncio.create_task(self._flush(key))
        # Shielded: a caller that goes away (client disconnect) does not take its record with it.
        await asyncio.shield(done)

    async def _flush(self, key: str) -> None:
        try:
            while batch := self._waiting.pop(key, []):
                try:
                    await self._write(key, [record for record, _ in batch])
                except Exception as failure:
                    if len(batch) == 1 or database_unavailable(failure):
                        _settle(batch, failure)
                    else:
                        # One record Postgres refuses must not fail its neighbours (other users, other
                        # tenants): each is written alone, and each call gets its own record's outcome.
                        for single in batch:
                            await self._write_alone(key, single)
                else:
                    _settle(batch, None)
        finally:
            # No await between the last (empty) pop and this: a record appended meanwhile is impossible.
            del self._flushing[key]

    async def _write_alone(self, schema: str, waiting: tuple[dict[str, Any], asyncio.Future[None]]) -> None:
        try:
            await self._write(schema, [waiting[0]])
        except Exception as failure:
            _settle([waiting], failure)
        else:
            _settle([waiting], None)

    async def _write(self, schema: str, records: list[dict[str, Any]]) -> None:
        from securemcp.audit.export import export_records

        engine = self._engine()
        if engine is None:
            raise RuntimeError("the server's engine is gone: the record cannot be written")
        async with engine.connect() as connection:
            driver = await driver_connection(connection)
            try:
                async with driver_failures(driver), driver.transaction():  # one commit, one WAL flush, for all
                    rows = await append_all(driver, schema, records)
            except BaseException:
                # The driver's transaction bypassed SQLAlchemy: do not hand a connection in an unknown
                # state back to the pool.
                await connection.invalidate()
                raise
        export_records(rows)
        note_written(schema, {str(row["tenant_id"]) for row in rows})  # committed: a checkpoint can cover them


def _settle(batch: _Waiting, failure: Exception | None) -> None:
    """Answer every caller waiting on `batch`: its record is committed, or `failure` says why not."""
    for _, done in batch:
        if not done.done():
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)


_batchers: weakref.WeakKeyDictionary[AsyncEngine, AuditBatcher] = weakref.WeakKeyDictionary()


def batcher_for(engine: AsyncEngine) -> AuditBatcher:
    """The batcher of `engine` (made on first use; it goes with the engine)."""
    batcher = _batchers.get(engine)
    if batcher is None:
        batcher = _batchers[engine] = AuditBatcher(engine)
    return batcher
