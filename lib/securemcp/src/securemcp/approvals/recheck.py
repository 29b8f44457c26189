"""What an approved call must still satisfy when it runs, checked before its effect.

An approval binds one exact call: its requester and the credential they asked with (token id and
grant), the server (the schema the row lives in), the tool, the digest of the arguments, and an expiry.
Between the question and the decision the world can change, so `decide` re-checks, in the decision's
transaction and under the row lock (`void_reason`):

- the requester's token and grant are not revoked: read from the server's `RevocationList`, polled in
  the background (no network I/O here). A list older than its staleness bound refuses the decision
  (`ConflictError`, the approval stays pending), as it refuses every token;
- the role policy is the one the approval was asked under (its `RolePolicy.version`, recorded with the
  request): a changed policy voids what was asked under the old one, as a gateway's exact-call binding
  does, even where the new one would still allow it;
- the requester's roles, as recorded at the request, still give the tool's scope under the deployment's
  role policy now. A page decision has no requester token: a server learns a person's current roles
  only from the next token they present. What it can know here is the recorded roles re-derived with
  today's policy, and whether the IdP revoked the grant (which an IdP does when it removes a role);
- the recorded arguments still hash to the recorded digest;
- the level: the effect decides it again on the row it locks, with the deployment's configured floor
  (`securemcp.gate.side_effects.LevelRaisedError`).

A failed check ends the approval as `void` with the reason (`securemcp.approvals.decisions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from securemcp.approvals.pending import ApprovableTool, ApprovalStatus, arguments_sha256
from securemcp.errors import ConflictError
from securemcp.identity.tokens import RevocationList


@dataclass(frozen=True)
class RecordedRequester:
    """What the pending approval recorded about the credential and roles that asked."""

    token_id: str | None
    grant_id: str | None
    roles: tuple[str, ...]
    policy_version: str | None = None  # None: asked before versions were recorded, or without a policy


async def recorded_requester(session: AsyncSession, schema: str, tenant: str, approval_id: str) -> RecordedRequester:
    """The requester columns of one (already locked) approval."""
    query = text(
        "SELECT requester_token_id, requester_grant_id, requester_roles, requester_policy_version "  # noqa: S608
        f"FROM {schema}.pending_approvals WHERE tenant_id = :t AND id = :id"
    )
    row = (await (await session.connection()).execute(query, {"t": tenant, "id": approval_id})).one()
    return RecordedRequester(
        token_id=row[0], grant_id=row[1], roles=tuple(str(role) for role in row[2] or ()), policy_version=row[3]
    )


def void_reason(
    *,
    schema: str,
    status: ApprovalStatus,
    requester: RecordedRequester,
    tool: ApprovableTool,
    revocations: RevocationList | None,
) -> str | None:
    """Why this approval may no longer run (None: it may); `ConflictError` when revocations are unknown now."""
    # Without a list (stdio, standalone pages) the operator's hold or void (`supplychain incident`) stops it.
    if revocations is not None and (requester.token_id or requester.grant_id):
        if not revocations.fresh:
            raise ConflictError("revocations cannot be checked right now; try again shortly; nothing changed")
        if revocations.revoked(token_id=requester.token_id, grant_id=requester.grant_id):
            return f"the credential {status.requested_by} asked with was revoked (token {requester.token_id})"
    if tool.policy is not None and requester.policy_version not in (None, tool.policy.version):
        was, now = requester.policy_version, tool.policy.version
        return f"the role policy changed since it was asked (version {was}, now {now})"
    if tool.policy is not None and tool.scope not in tool.policy.scopes_for_known_roles(requester.roles):
        roles = ", ".join(requester.roles) or "none"
        return f"the requester's roles ({roles}) no longer give {tool.scope}"
    if arguments_sha256(status.arguments) != status.arguments_sha256:
        return "the recorded arguments no longer match their digest"
    return None


__all__ = ["RecordedRequester", "recorded_requester", "void_reason"]
