"""The unit of work of one tool call: its tenant transaction and its audit record, committed together.

Guarantees (the audit trail's, `securemcp.audit.records`, made real here):
- every use of `Caller.transaction()` or `Caller.reading()` within one tool call shares one
  transaction, opened on first use in the caller's tenant (`securemcp.tenancy.database.set_tenant`);
- a successful call's record joins that transaction and both commit together; any other outcome
  rolls the call's work back first and records the outcome on its own, so no change is kept
  without its record, and a record that cannot be written fails the call;
- a side effect cannot open its transaction before the human has answered (a resolver that tries
  raises): nothing holds a connection while a person decides.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from securemcp.audit.attribution import LOCAL, Attribution
from securemcp.audit.batch import batcher_for
from securemcp.audit.chain import append_all
from securemcp.audit.checkpoints import note_written
from securemcp.audit.export import export_records
from securemcp.audit.records import append
from securemcp.audit.values import arguments_digest, redact_arguments, stored_text
from securemcp.identity.principal import Identity
from securemcp.ids import new_id
from securemcp.observability.telemetry import record_tool_call
from securemcp.tenancy.database import (
    TenantReads,
    driver_connection,
    driver_failures,
    open_tenant_reads,
    set_tenant,
    tenant_transaction,
)


@dataclass
class CallUnitOfWork:
    """One tool call while it runs: who calls what, its one tenant transaction, and its audit record.

    `securemcp.gate.tool_gate.ToolGate` opens it for every call and finishes it with the outcome.
    """

    schema: str
    tool: str
    arguments: Mapping[str, Any]
    identity: Identity
    transport: str
    request_id: str | None
    side_effect: bool
    actor_kind: str = "mcp"
    attribution: Attribution = LOCAL
    decision: str = "not_required"
    approval_id: str | None = None
    started: float = field(default_factory=time.perf_counter)
    session: AsyncSession | None = None
    reads: TenantReads | None = None  # a read-only call's transaction on the driver (`securemcp.tenancy.reads`)
    # Run in the call's transaction: `on_open` as it opens, `on_commit` just before a successful call
    # commits (`securemcp.gate.idempotency` locks and stores its key there, with the effect and this record).
    on_open: Callable[[AsyncSession], Awaitable[None]] | None = None
    on_commit: Callable[[AsyncSession], Awaitable[None]] | None = None
    # 2026-07-28: a round that asks the human is no answer to replay, but it recorded an approval; a retry
    # with this call's idempotency key gets this pending answer (`securemcp.gate.deferred_approvals`) meanwhile.
    pending_answer: Mapping[str, Any] | None = None

    @asynccontextmanager
    async def transaction(self, engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
        """The call's one tenant transaction: opened on first use, committed by `finish`."""
        if self.side_effect and self.decision == "not_required":
            # Approval resolvers run before the human answers; a transaction held open across that
            # wait would pin a connection. They must use `Caller.lookup()` instead.
            raise RuntimeError(f"{self.tool}: the call transaction opened before approval; use caller.lookup()")
        opening = self.session is None
        if self.session is None:
            self.session = AsyncSession(engine, expire_on_commit=False)
            await self.session.begin()
            await set_tenant(self.session, self.identity)
        try:
            if opening and self.on_open is not None:
                await self.on_open(self.session)
            yield self.session
        except BaseException:
            await self._discard()
            raise

    @asynccontextmanager
    async def reading(self, engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
        """The call's tenant transaction on the driver, for `securemcp.tenancy.reads`; committed by `finish`.

        A call with a side effect, or one that opened the ORM session already, reads in that session's
        transaction, so all its work commits together.
        """
        if self.side_effect or self.session is not None:
            async with self.transaction(engine) as session:
                yield await driver_connection(await session.connection())
            return
        if self.reads is None:
            self.reads = await open_tenant_reads(engine, self.identity)
        try:
            yield self.reads.driver
        except BaseException:
            await self._discard()
            raise

    async def _discard(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()  # rolls back whatever is still open, returns the connection
        if self.reads is not None:
            reads, self.reads = self.reads, None
            await reads.close()

    def record(self, *, outcome: str, detail: str | None, output_bytes: int) -> dict[str, Any]:
        """The record for this call, without its chain hashes."""
        return {
            "id": new_id("au"),
            "tenant_id": self.identity.tenant_id,
            "occurred_at": datetime.now(UTC),
            "request_id": self.request_id,
            "user_id": self.identity.user_id,
            "client_id": self.identity.client_id,
            "actor_kind": self.actor_kind,
            "transport": self.transport,
            "tool": stored_text(self.tool),
            "arguments": redact_arguments(self.arguments),
            "arguments_sha256": arguments_digest(self.arguments),
            "decision": self.decision,
            "approval_id": self.approval_id,
            "outcome": outcome,
            "detail": stored_text(detail or "")[:300] or None,
            "output_bytes": output_bytes,
            "latency_ms": round((time.perf_counter() - self.started) * 1000),
            **self.attribution.fields(),
        }

    async def finish(self, engine: AsyncEngine, *, outcome: str, detail: str | None, output_bytes: int) -> None:
        """Write the record and commit; raises if it cannot (and then nothing of the call is kept).

        A successful call's record joins the call's own transaction. Any other outcome first rolls
        back whatever the call did, then records the outcome in a transaction of its own. A
        successful call that changed nothing (no side effect and nothing to commit with it, or no
        transaction at all, like the round that asks for approval) commits its reads and has its
        record group-committed with concurrent ones (`securemcp.audit.batch`): the answer still waits
        for its record.
        """
        record = self.record(outcome=outcome, detail=detail, output_bytes=output_bytes)
        record_tool_call(self.attribution.metric_tool or self.tool, outcome, time.perf_counter() - self.started)
        changed_nothing = self.session is None or not self.side_effect
        batcher = batcher_for(engine)
        if outcome == "ok" and self.reads is not None and self.session is None and batcher.write_alone(self.schema):
            # Nobody to share a flush with (one client): the record joins the read's own transaction,
            # two round trips and a connection checkout fewer than a batch of one (measured by `supplychain bench`).
            try:
                async with driver_failures(self.reads.driver):
                    rows = await append_all(self.reads.driver, self.schema, [record])
                await self.reads.commit()
            finally:
                batcher.done_alone(self.schema)
                await self._discard()
            export_records(rows)
            note_written(self.schema, {self.identity.tenant_id})
            return
        if outcome == "ok" and changed_nothing:
            try:
                if self.session is not None:
                    await self.session.commit()  # reads only: no WAL flush, and the connection goes back
                if self.reads is not None:
                    await self.reads.commit()
            finally:
                await self._discard()
            await batcher.append(self.schema, record)
            return
        if self.session is not None and outcome == "ok":
            try:
                if self.on_commit is not None:
                    await self.on_commit(self.session)
                rows = await append(self.session, self.schema, record)
                await self.session.commit()
            finally:
                await self._discard()
            export_records(rows)
            return
        await self._discard()
        async with tenant_transaction(engine, self.identity) as session:
            rows = await append(session, self.schema, record)
        export_records(rows)


_current: ContextVar[CallUnitOfWork | None] = ContextVar("securemcp_call", default=None)


def current_call() -> CallUnitOfWork | None:
    """The unit of work of the tool call being served, if any."""
    return _current.get()


def set_current_call(call: CallUnitOfWork | None) -> Any:
    """Make `call` the current one; returns the token to reset with."""
    return _current.set(call)


def reset_current_call(token: Any) -> None:
    _current.reset(token)
