"""The pending approvals a revoked credential asked for, on every server: found, then held or voided.

A pending approval records the token id and grant it was asked with (`securemcp.approvals.pending`).
`hold` sets `held_reason`: it stays pending, no page decision can run it until the operator releases
it. `cancel` ends it `void` with the reason. Both are written with the admin credential; the servers'
own role cannot change `held_reason`, so a server cannot release its own hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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


async def contain_pending(
    engine: AsyncEngine, servers: tuple[str, ...], *, grants: list[str], tokens: list[str], user: str | None,
    action: PendingAction, reason: str,
) -> list[AskedFor]:  # fmt: skip
    """Hold or void every pending approval asked with these grants or tokens (or by `user`), on `servers`."""
    found: list[AskedFor] = []
    values = {"grants": grants, "tokens": tokens, "user": user or "", "reason": reason[:1000]}
    async with engine.begin() as connection:
        for server in servers:
            change = (
                "held_reason = COALESCE(held_reason, :reason)"
                if action == "hold"
                else "status = 'void', void_reason = :reason, decided_at = now()"
            )
            rows = await connection.execute(
                text(
                    f"UPDATE {server}.pending_approvals SET {change} WHERE {_MATCH} "  # noqa: S608
                    "RETURNING id, tenant_id, requested_by, tool, status, held_reason IS NOT NULL AS held"
                ),
                values,
            )
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
