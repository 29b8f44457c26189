"""A decision the approval page refuses still leaves its audit record.

Refused: a person who may not decide this approval (the requester of a four-eyes one), a sign-in too
old, an approval already decided or expired, arguments that are not the ones shown, an unknown id,
a form that fails its CSRF check from a signed-in person. The decision's own transaction is rolled
back (nothing changed), so the record is written in a tenant transaction of its own, in the
decider's tenant, as accepted page decisions are (`securemcp.approvals.decisions`): the decider as
`user_id`, the page's client id, `actor_kind` `page`, the approval id, outcome `refused` and the
reason in `detail`. It records no decision (`decision` is `not_required`): the approval is as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from securemcp.approvals.decisions import PAGE_CLIENT_ID, Decider, decision_transaction
from securemcp.approvals.pending import ApprovalStatus
from securemcp.audit.records import append, redact_arguments
from securemcp.audit.values import arguments_digest, stored_text
from securemcp.ids import new_id

UNKNOWN_APPROVAL_TOOL = "(approval page)"  # the `tool` when the approval could not be read (unknown id)


async def record_refused_decision(
    engine: AsyncEngine, *, schema: str, decider: Decider, approval_id: str, verb: str, reason: str,
    approval: ApprovalStatus | None,
) -> None:  # fmt: skip
    """Append the record of `decider`'s refused `verb` ("approve" or "deny") on `approval_id`."""
    record = {
        "id": new_id("au"), "tenant_id": decider.tenant_id, "occurred_at": datetime.now(UTC), "request_id": None,
        "user_id": decider.user_id, "client_id": PAGE_CLIENT_ID, "actor_kind": "page", "transport": "http",
        "tool": approval.tool if approval is not None else UNKNOWN_APPROVAL_TOOL,
        "arguments": redact_arguments(approval.arguments) if approval is not None else {},
        "arguments_sha256": approval.arguments_sha256 if approval is not None else arguments_digest({}),
        "decision": "not_required", "approval_id": stored_text(approval_id)[:100], "outcome": "refused",
        "detail": stored_text(f"{verb} refused on the approval page: {reason}")[:300],
        "output_bytes": 0, "latency_ms": 0,
    }  # fmt: skip
    async with decision_transaction(engine, decider) as session:
        await append(session, schema, record)
