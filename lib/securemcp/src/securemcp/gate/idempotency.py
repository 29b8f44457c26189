"""Idempotency keys: a retried side effect answers with its first result and changes nothing more.

Every side-effecting tool (every tool that asks a human, `securemcp.gate.side_effects`) takes an optional
`idempotency_key`. The tool gate (`securemcp.gate.tool_gate.ToolGate`) handles it; the derived tool declares
it (so it is in the schema) and the effect never sees it. A key is scoped to tenant + user + tool: another
user's or another tenant's equal key is a different key (the table has forced row-level security on
the tenant, and every query names the user).

- First call with a key: runs as usual. When it succeeds, the key row (the SHA-256 of the canonical
  arguments without the key, and the result as sent) is written in the call's own transaction, with
  the effect and its audit record (`CallUnitOfWork.on_commit`): there is never an effect without its key
  row, nor a key row without its effect.
- Retry with the same key and the same arguments, within the key's lifetime (24 h by default,
  `SUPPLYCHAIN_IDEMPOTENCY_TTL_HOURS`): the stored result is returned, nobody is asked, nothing runs.
  Its audit record has decision 'replayed', so the trail still holds one record per call made.
- Same key, different arguments: refused with a tool error; nothing changes.
- Pending (a call not settled in band, `securemcp.approvals.paths`): the first call's answer is its
  pending approval and the key row names it. A retry while the approval is pending returns that same
  pending answer (no second approval); once a decision on the approval page has executed it, the
  retry returns the approval with the tool's result. On 2026-07-28 the round that shows the page keeps
  the key with the pending answer; that round's own retry (its request state names the approval) is a
  continuation answered from the approval, not a second call (`securemcp.gate.deferred_approvals`).
- A call that is declined, cancelled or fails leaves no key row: nothing happened, so a retry asks the
  human again and may run. Likewise a denied or expired out-of-band approval frees its key.
- Expired key rows are ignored and overwritten by the next call that uses the key.

Concurrency (Postgres READ COMMITTED): a call looks its key up before the human is asked, so a plain
retry is answered at once. Two identical calls in flight at the same moment both pass that look-up
(nothing is reserved before the effect, so a crash can never strand a key) and may both be asked. The
decisive check comes when the call's transaction opens, right before the effect: a transaction-scoped
advisory lock on (schema, tenant, user, tool, key) makes same-key calls take turns until commit, and
the key row is read again *after* the lock is granted. Under READ COMMITTED each statement sees every
transaction committed before it started, so the second call sees the first one's key row and replays
it instead of running. (Under REPEATABLE READ the snapshot would predate the lock and miss it.) An
unrelated key whose hash collides only waits its turn.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from mcp.types import CallToolResult
from pydantic import Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from securemcp.approvals.paths import approval_result, executed_message
from securemcp.approvals.pending import load_approval
from securemcp.audit.records import canonical_json
from securemcp.errors import NotFoundError, SupplyChainError
from securemcp.runtime.unit_of_work import CallUnitOfWork
from securemcp.tenancy.database import tenant_transaction

ARGUMENT = "idempotency_key"
KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
_WELL_FORMED = re.compile(KEY_PATTERN)

IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=8,
        max_length=128,
        pattern=KEY_PATTERN,
        description="Optional key that makes this call safe to retry: 8-128 characters of A-Z a-z 0-9 _ . : -, "
        "e.g. a UUID. Reuse the same key when retrying the same call: the first result is returned and "
        "nothing happens twice. Use a new key for a new action.",
    ),
]


@dataclass(frozen=True)
class Answer:
    """What an earlier call with the same key settles: a result to replay, or a refusal."""

    replay: CallToolResult | None = None
    refusal: str | None = None
    approval_id: str | None = None


class AlreadyAnswered(SupplyChainError):
    """Stops a call whose key a concurrent call used first; the gate then answers with `KeyedCall.answer`."""


@dataclass
class KeyedCall:
    """One tool call that carries an idempotency key; the gate drives it (see the module docstring)."""

    call: CallUnitOfWork
    engine: AsyncEngine
    key: str
    arguments_sha256: str
    ttl_hours: int
    answer: Answer | None = field(default=None, init=False)

    async def look_up(self) -> Answer | None:
        """Before the human is asked: an earlier call's answer to this key, in a short read of its own."""
        async with tenant_transaction(self.engine, self.call.identity) as session:
            return await self._earlier_answer(session)

    async def lock_and_check(self, session: AsyncSession) -> None:
        """`CallUnitOfWork.on_open`: take the key's lock in the call's transaction, then look again.

        Raises `AlreadyAnswered` (the tool stops before its effect) when a concurrent call with the same
        key committed first; `self.answer` then holds what to send back.
        """
        who = self.call.identity
        lock = f"idempotency:{self.call.schema}:{who.tenant_id}:{who.user_id}:{self.call.tool}:{self.key}"
        connection = await session.connection()
        await connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": lock})
        self.answer = await self._earlier_answer(session)  # a new statement: sees what committed meanwhile
        if self.answer is not None:
            raise AlreadyAnswered(self.answer.refusal or f"{self.call.tool} already ran with this idempotency key")

    def remember(self, wire: Mapping[str, Any]) -> Callable[[AsyncSession], Awaitable[None]]:
        """`CallUnitOfWork.on_commit` for a call that succeeded with `wire`: store the key row in its transaction."""

        async def store(session: AsyncSession) -> None:
            now = datetime.now(UTC)
            pending = self.call.approval_id if self.call.decision == "pending" else None
            # Under the key's lock and after `lock_and_check` found no live answer, so any row still
            # there is expired or points to a denied or expired approval: it is replaced.
            await (await session.connection()).execute(
                text(
                    f"INSERT INTO {self.call.schema}.idempotency_keys (tenant_id, user_id, tool, key, "  # noqa: S608
                    "arguments_sha256, result, approval_id, created_at, expires_at) VALUES (:t, :u, :tool, :k, "
                    ":sha, CAST(:result AS jsonb), :approval, :now, :expires) ON CONFLICT (tenant_id, user_id, "
                    "tool, key) DO UPDATE SET arguments_sha256 = EXCLUDED.arguments_sha256, result = "
                    "EXCLUDED.result, approval_id = EXCLUDED.approval_id, created_at = EXCLUDED.created_at, "
                    "expires_at = EXCLUDED.expires_at"
                ),
                {
                    **self._where(), "sha": self.arguments_sha256, "result": canonical_json(dict(wire)),
                    "approval": pending, "now": now,
                    "expires": now + timedelta(hours=self.ttl_hours),
                },
            )  # fmt: skip

        return store

    def _where(self) -> dict[str, str]:
        who = self.call.identity
        return {"t": who.tenant_id, "u": who.user_id, "tool": self.call.tool, "k": self.key}

    async def _earlier_answer(self, session: AsyncSession) -> Answer | None:
        row = (
            (
                await (await session.connection()).execute(
                    text(
                        f"SELECT arguments_sha256, result, approval_id FROM {self.call.schema}.idempotency_keys "  # noqa: S608
                        "WHERE tenant_id = :t AND user_id = :u AND tool = :tool AND key = :k AND expires_at > now()"
                    ),
                    self._where(),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        if row["arguments_sha256"] != self.arguments_sha256:
            return Answer(
                refusal=f"idempotency key {self.key!r} was already used for a {self.call.tool} call with different "
                "arguments; use a new key for a new action; nothing changed"
            )
        stored = CallToolResult.model_validate(row["result"])
        if row["approval_id"] is None:
            return Answer(replay=stored)
        return await self._approval_answer(session, row["approval_id"], stored)

    async def _approval_answer(self, session: AsyncSession, approval_id: str, stored: CallToolResult) -> Answer | None:
        """The answer of a call that was deferred to an out-of-band approval, as the approval stands now."""
        try:
            status = await load_approval(session, self.call.schema, self.call.identity.tenant_id, approval_id)
        except NotFoundError:
            return None
        if status.status in ("denied", "expired"):
            return None  # nothing happened: the key is free again
        if status.status == "executed":  # the answer the decision's own retry gave, page address included
            status.url, status.message = (stored.structured_content or {}).get("url", ""), executed_message(status)
            return Answer(replay=approval_result(status), approval_id=approval_id)
        return Answer(replay=stored, approval_id=approval_id)  # still pending: the very same answer as before


def keyed_call(call: CallUnitOfWork, engine: AsyncEngine, ttl_hours: int) -> KeyedCall | None:
    """The keyed view of `call` when it carries a well-formed key; None otherwise.

    A malformed key is left alone here: the tool's own argument validation refuses it before anything runs.
    """
    key = call.arguments.get(ARGUMENT)
    if not isinstance(key, str) or _WELL_FORMED.fullmatch(key) is None:
        return None
    others = {name: value for name, value in call.arguments.items() if name != ARGUMENT}
    digest = hashlib.sha256(canonical_json(others).encode()).hexdigest()
    return KeyedCall(call=call, engine=engine, key=key, arguments_sha256=digest, ttl_hours=ttl_hours)
