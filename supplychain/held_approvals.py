"""The pending approvals a revoked credential asked for, on every server: found, then held or voided.

A pending approval records the token id and grant it was asked with (`securemcp.approvals.pending`).
`hold` sets `held_reason`: it stays pending, no page decision can run it until the operator releases
it. `cancel` ends it `void` with the reason. Both are written with the admin credential; the servers'
own role cannot change `held_reason`, so a server cannot release its own hold.

`release_hold` (`supplychain approvals release`) lifts the operator's hold. Each hold, void and release
is one audit record in the approval's tenant chain, written in the same transaction: actor_kind `cli`
(a command, not a tool call or the page), client_id `operator`, the operator as user_id, the approval id,
and the requester in `detail`; decision `pending` for a hold or release, `void` for a void.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from securemcp.audit.records import append, redact_arguments
from securemcp.ids import new_id
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

PendingAction = Literal["hold", "cancel"]
_MATCH = (
    "status = 'pending' AND (requester_grant_id = ANY(:grants) OR requester_token_id = ANY(:tokens) "
    "OR requested_by = :user)"
)


@dataclass(frozen=True)
class AskedFor:
    """One approval the credential asked for, and where it stands after the playbook."""

    server: str
    approval_id: str
    tenant_id: str
    requested_by: str
    tool: str
    state: str  # "held", "void", or "pending" (still open)

    def line(self) -> str:
        """The approval as one line of the report."""
        return f"{self.server:<9} {self.approval_id} {self.tenant_id}/{self.requested_by} {self.tool}: {self.state}"


OPERATOR_CLIENT_ID = "operator"


def operator_name() -> str:
    """Who runs the command, as the audit records name them."""
    try:
        return f"operator:{getpass.getuser()}"[:200]
    except (KeyError, OSError):
        return "operator"


def _operator_record(row: Any, *, operator: str, decision: str, outcome: str, detail: str) -> dict[str, Any]:
    """One audit record of an operator's act on an approval (`row`: the approval's columns)."""
    return {
        "id": new_id("au"), "tenant_id": row.tenant_id, "occurred_at": datetime.now(UTC), "request_id": None,
        "user_id": operator, "client_id": OPERATOR_CLIENT_ID, "actor_kind": "cli", "transport": "stdio",
        "tool": row.tool, "arguments": redact_arguments(row.arguments), "arguments_sha256": row.arguments_sha256,
        "decision": decision, "approval_id": row.id, "outcome": outcome,
        "detail": f"{detail}; requested by {row.requested_by}"[:2000], "output_bytes": 0, "latency_ms": 0,
        "token_id": None,
    }  # fmt: skip


async def contain_pending(
    engine: AsyncEngine, servers: tuple[str, ...], *, grants: list[str], tokens: list[str], user: str | None,
    action: PendingAction, reason: str, operator: str | None = None,
) -> list[AskedFor]:  # fmt: skip
    """Hold or void every pending approval asked with these grants or tokens (or by `user`), on `servers`;
    one audit record for each approval this run holds or voids (none for one already held)."""
    found: list[AskedFor] = []
    operator = operator or operator_name()
    values = {"grants": grants, "tokens": tokens, "user": user or "", "reason": reason[:1000]}
    change = (
        "held_reason = COALESCE(a.held_reason, :reason)"
        if action == "hold"
        else "status = 'void', void_reason = :reason, decided_by = :operator, decided_at = now()"
    )
    for server in servers:
        async with AsyncSession(engine) as session, session.begin():
            connection = await session.connection()
            rows = (
                await connection.execute(
                    text(
                        f"UPDATE {server}.pending_approvals AS a SET {change} FROM (SELECT id, held_reason "  # noqa: S608
                        f"FROM {server}.pending_approvals WHERE {_MATCH} FOR UPDATE) AS before "
                        "WHERE a.id = before.id RETURNING a.id, a.tenant_id, a.requested_by, a.tool, a.arguments, "
                        "a.arguments_sha256, a.status, a.held_reason IS NOT NULL AS held, "
                        "before.held_reason IS NULL AS newly_held"
                    ),
                    {**values, "operator": operator},
                )
            ).all()
            for row in rows:
                if row.status == "void":
                    record = _operator_record(row, operator=operator, decision="void", outcome="refused",
                                              detail=f"void by the operator {operator}: {reason}")  # fmt: skip
                elif row.newly_held:
                    record = _operator_record(row, operator=operator, decision="pending", outcome="ok",
                                              detail=f"held by the operator {operator}: {reason}")  # fmt: skip
                else:
                    continue
                await append(session, server, record)
            found += [
                AskedFor(
                    server,
                    row.id,
                    row.tenant_id,
                    row.requested_by,
                    row.tool,
                    "void" if row.status == "void" else "held" if row.held else "pending",
                )
                for row in rows
            ]
    return found


async def release_hold(engine: AsyncEngine, server: str, approval_id: str, *, operator: str | None = None) -> str:
    """Lift the operator's hold on one pending approval of `server` (it can then be decided on the page,
    where its requester's grant and roles are checked again); one audit record. Raises `LookupError` when
    no pending approval with that id is held."""
    operator = operator or operator_name()
    async with AsyncSession(engine) as session, session.begin():
        connection = await session.connection()
        row = (
            await connection.execute(
                text(
                    f"UPDATE {server}.pending_approvals AS a SET held_reason = NULL FROM (SELECT id, held_reason "  # noqa: S608
                    f"FROM {server}.pending_approvals WHERE id = :id AND status = 'pending' "
                    "AND held_reason IS NOT NULL FOR UPDATE) AS before WHERE a.id = before.id "
                    "RETURNING a.id, a.tenant_id, a.requested_by, a.tool, a.arguments, a.arguments_sha256, "
                    "before.held_reason"
                ),
                {"id": approval_id},
            )
        ).first()
        if row is None:
            raise LookupError(f"{server} has no held pending approval {approval_id}")
        await append(session, server, _operator_record(
            row, operator=operator, decision="pending", outcome="ok",
            detail=f"hold released by the operator {operator} (held: {row.held_reason})",
        ))  # fmt: skip
    return f"{server} {approval_id} {row.tenant_id}/{row.requested_by} {row.tool}: released by {operator}"
