"""Deciding an approval: the one function the approval pages call, and what it re-checks.

A *decider* is a person signed in on the server's approval page (OpenID Connect; the page builds
`Decider` from the verified ID token). Nothing else decides: there is no tool for it, and the CLI
only lists. `decide` guarantees, inside the caller's tenant transaction and under a row lock:

- the approval belongs to the decider's tenant (another tenant's id and an unknown id get the very
  same `NotFoundError`), and the decider may see it (its requester, or a holder of `<server>:decide`);
- who: a `confirm` or `verified` approval is decided only by its requester; a `four_eyes` one only by
  another person of the tenant whose roles (re-derived with `deployment.policy`) give `<server>:decide`,
  never by the requester (`DeciderRefusedError`). "The requester" is one person across clients: the
  person id recorded from the access token against the decider's from the ID token (`same_person`);
- it is still pending and unexpired (`ConflictError` otherwise: a second POST changes nothing);
- the sign-in is no older than `SUPPLYCHAIN_APPROVAL_SIGN_IN_MAX_AGE_SECONDS`, and for `verified` and
  `four_eyes` made after the request (`SignInTooOldError`);
- on approve, exactly the recorded arguments run as the requester, once, in the same transaction,
  and the result is stored on the approval; one audit record names the decider and the level. The
  effect decides the level again on the row it locks, and refuses (`ConflictError`, nothing changed,
  the approval stays pending) when that row now needs a stricter level than this approval's.
- a held approval (the operator's, `supplychain incident`) cannot be decided until released
  (`ConflictError`, nothing changed);
- on approve, before the effect, the exact call is re-checked (`securemcp.approvals.recheck`): the
  requester's credential is not revoked, their recorded roles still give the tool's scope, the arguments
  match their digest, and the level was not raised since the question. If any fails, the approval ends
  `void` with the reason, nothing runs, and the audit record says why.

Every record a decision writes carries the requester's `token_id`, so an incident on that credential
lists the execution (or the void) it caused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from securemcp.approvals.pending import (
    COLUMNS,
    ApprovalSettings,
    ApprovalStatus,
    executors_for,
    load_approval,
    status_of,
    untrusted_again,
    with_url,
)
from securemcp.approvals.recheck import recorded_requester, void_reason
from securemcp.audit.records import append, canonical_json, redact_arguments
from securemcp.errors import (
    ConflictError,
    DeciderRefusedError,
    LevelRaisedError,
    NotFoundError,
    SignInTooOldError,
)
from securemcp.identity.principal import Identity
from securemcp.identity.tokens import RevocationList
from securemcp.ids import new_id
from securemcp.policy import decide_scope
from securemcp.tenancy.database import tenant_transaction

PAGE_CLIENT_ID = "approval-page"
_CLOCK_SKEW = timedelta(seconds=30)  # an auth_time this far ahead of our clock is still believed


@dataclass(frozen=True)
class Decider:
    """A person signed in on the approval page (from the OIDC ID token)."""

    tenant_id: str
    user_id: str
    roles: frozenset[str]
    auth_time: datetime  # aware UTC
    # What the person's roles give, re-derived with the deployment's role policy when they sign in.
    allowed_scopes: frozenset[str] = frozenset()
    # The issuer plus the configured person claim (`securemcp.identity.principal.person_id`).
    person_id: str | None = None

    def holds(self, scope: str) -> bool:
        """True when the person's roles, re-derived with the role policy, give `scope`."""
        return scope in self.allowed_scopes


@asynccontextmanager
async def decision_transaction(engine: AsyncEngine, decider: Decider) -> AsyncIterator[AsyncSession]:
    """A tenant transaction for `decider`'s tenant (`securemcp.tenancy.database.tenant_transaction`), for the page."""
    who = Identity(tenant_id=decider.tenant_id, user_id=decider.user_id, roles=decider.roles, scopes=frozenset())
    async with tenant_transaction(engine, who) as session:
        yield session


@dataclass(frozen=True)
class Requester:
    """Who asked for an approval: the user id the records show, and the person id four eyes compares."""

    user_id: str
    person_id: str | None  # None: a local (stdio) requester, or a row recorded before person ids


def same_person(requester: Requester, decider: Decider) -> bool:
    """True when the decider is the requester: by person id when the request recorded one, else by user id.

    With pairwise subjects the requester's `sub` (MCP client) and the decider's (pages' client) differ for
    one person; the person id, made from a claim that stays the same, does not.
    """
    if requester.person_id is not None:
        return requester.person_id == decider.person_id
    return requester.user_id == decider.user_id


def may_see(requester: Requester, decider: Decider, schema: str) -> bool:
    """The requester sees their own approvals; holders of `<schema>:decide` see all of their tenant's."""
    return same_person(requester, decider) or decider.holds(decide_scope(schema))


def may_decide(status: ApprovalStatus, requester: Requester, decider: Decider, schema: str) -> bool:
    """confirm/verified: only the requester; four_eyes: a `<schema>:decide` holder who is not the requester."""
    if status.level == "four_eyes":
        # Either id matching means the same person: four eyes fails closed.
        different = not same_person(requester, decider) and requester.user_id != decider.user_id
        return different and decider.holds(decide_scope(schema))
    return same_person(requester, decider)


async def requester_of(session: AsyncSession, *, schema: str, tenant_id: str, approval_id: str) -> Requester:
    """The requester of one approval of `tenant_id` (`NotFoundError` when there is none)."""
    query = text(
        f"SELECT requested_by, requested_by_person FROM {schema}.pending_approvals "  # noqa: S608
        "WHERE tenant_id = :t AND id = :id"
    )
    row = (await (await session.connection()).execute(query, {"t": tenant_id, "id": approval_id})).first()
    if row is None:
        raise NotFoundError("approval", approval_id)
    return Requester(user_id=row[0], person_id=row[1])


async def decidable_approvals(session: AsyncSession, *, schema: str, decider: Decider) -> list[ApprovalStatus]:
    """The pending, unexpired approvals of the decider's tenant that this person may decide, oldest first."""
    query = text(
        f"SELECT {COLUMNS}, requested_by_person FROM {schema}.pending_approvals WHERE tenant_id = :t "  # noqa: S608
        "AND status = 'pending' AND held_reason IS NULL AND expires_at > now() ORDER BY created_at, id LIMIT 500"
    )
    rows = (await (await session.connection()).execute(query, {"t": decider.tenant_id})).mappings()
    decidable = []
    for row in map(dict, rows):
        requester = Requester(user_id=row["requested_by"], person_id=row.pop("requested_by_person"))
        status = status_of(row)
        if may_decide(status, requester, decider, schema):
            decidable.append(status)
    return decidable


async def approval_for(session: AsyncSession, *, schema: str, decider: Decider, approval_id: str) -> ApprovalStatus:
    """One approval the decider may see or decide; `NotFoundError` otherwise (unknown, other tenant's, or hidden)."""
    status = await load_approval(session, schema, decider.tenant_id, approval_id)
    requester = await requester_of(session, schema=schema, tenant_id=decider.tenant_id, approval_id=approval_id)
    if not (may_see(requester, decider, schema) or may_decide(status, requester, decider, schema)):
        raise NotFoundError("approval", approval_id)
    return status


async def decide(
    session: AsyncSession,
    *,
    schema: str,
    decider: Decider,
    approval_id: str,
    decision: Literal["approve", "deny"],
    revocations: RevocationList | None = None,
) -> ApprovalStatus:
    """Approve (run exactly the recorded call, as the requester, once) or deny one approval; see the module.

    `revocations` is the list the server's token verifier polls: with it, an approval whose requester's
    token or grant was revoked ends void. Without one (stdio, the standalone pages) only the operator's
    hold or void (`supplychain incident`) stops it.
    """
    status = await load_approval(session, schema, decider.tenant_id, approval_id, lock=True)
    requester = await requester_of(session, schema=schema, tenant_id=decider.tenant_id, approval_id=approval_id)
    if not (may_see(requester, decider, schema) or may_decide(status, requester, decider, schema)):
        raise NotFoundError("approval", approval_id)
    if not may_decide(status, requester, decider, schema):
        raise DeciderRefusedError(_who_may_decide(status, requester, decider))
    if status.status == "expired":
        raise ConflictError(f"approval {approval_id!r} expired at {status.expires_at.isoformat()}; nothing changed")
    if status.status != "pending":
        raise ConflictError(f"approval {approval_id!r} is already {status.status}; nothing changed")
    if status.held:
        raise ConflictError(
            f"approval {approval_id!r} is held by the operator after a credential incident; nothing changed"
        )
    now = datetime.now(UTC)
    max_age = timedelta(seconds=ApprovalSettings().approval_sign_in_max_age_seconds)
    if decider.auth_time.tzinfo is None or not (now - max_age <= decider.auth_time <= now + _CLOCK_SKEW):
        raise SignInTooOldError(f"sign in again: deciding needs a sign-in from the last {max_age.seconds} seconds")
    if status.level != "confirm" and decider.auth_time < status.created_at - _CLOCK_SKEW:
        # A sign-in from before the request cannot have seen it: each verified or four-eyes yes is a fresh one.
        raise SignInTooOldError("sign in again: deciding needs a sign-in made after the request")
    result: dict[str, Any] | None = None
    recorded = await recorded_requester(session, schema, decider.tenant_id, approval_id)
    if decision == "approve":
        tool = executors_for(schema).get(status.tool)
        if tool is None:
            raise ConflictError(f"approval {approval_id!r} is for {status.tool!r}, which this server cannot run")
        reason = void_reason(schema=schema, status=status, requester=recorded, tool=tool, revocations=revocations)
        if reason is not None:
            return await _void(session, schema=schema, status=status, decider=decider, reason=reason,
                               token_id=recorded.token_id, now=now)  # fmt: skip
        acting_as = Identity(
            tenant_id=decider.tenant_id, user_id=status.requested_by, roles=frozenset(), scopes=frozenset(),
            client_id=f"approval:{approval_id}",
        )  # fmt: skip
        try:
            # The effect decides the level again on the row it locks (`securemcp.gate.side_effects`) and
            # raises before writing anything: voiding in the same transaction changes nothing else.
            executed = await tool.execute(acting_as, session, status.arguments, status.level)
        except LevelRaisedError as exc:
            return await _void(session, schema=schema, status=status, decider=decider, reason=str(exc),
                               token_id=recorded.token_id, now=now)  # fmt: skip
        result = executed.model_dump(mode="json", by_alias=True)
    new_status: Literal["executed", "denied"] = "executed" if decision == "approve" else "denied"
    await (await session.connection()).execute(
        text(
            f"UPDATE {schema}.pending_approvals SET status = :s, decided_by = :by, decided_at = :at, "  # noqa: S608
            "result = CAST(:result AS jsonb) WHERE tenant_id = :t AND id = :id AND status = 'pending'"
        ),
        {
            "s": new_status, "by": decider.user_id, "at": now, "t": decider.tenant_id, "id": approval_id,
            "result": None if result is None else canonical_json(result),
        },
    )  # fmt: skip
    await append(session, schema, _decision_record(status, decider, decision, result, now, recorded.token_id))
    status.status, status.decided_by, status.decided_at = new_status, decider.user_id, now
    status.result = untrusted_again(result)
    status.message = (
        f"{status.tool} was {'approved and executed' if result is not None else 'denied'} by {decider.user_id}."
    )
    return status


def _who_may_decide(status: ApprovalStatus, requester: Requester, decider: Decider) -> str:
    if status.level != "four_eyes":
        return f"approval {status.approval_id!r} ({status.level}) can be decided only by its requester; nothing changed"
    if same_person(requester, decider) or requester.user_id == decider.user_id:
        return (
            f"approval {status.approval_id!r} is four_eyes: it must be decided by another person than its requester "
            f"{status.requested_by}; nothing changed"
        )
    return f"approval {status.approval_id!r} is four_eyes: deciding it needs the decide capability; nothing changed"


async def _void(
    session: AsyncSession, *, schema: str, status: ApprovalStatus, decider: Decider, reason: str,
    token_id: str | None, now: datetime,
) -> ApprovalStatus:  # fmt: skip
    """End the approval `void` with `reason`: nothing ran; one audit record names the reason."""
    await (await session.connection()).execute(
        text(
            f"UPDATE {schema}.pending_approvals SET status = 'void', void_reason = :reason, decided_by = :by, "  # noqa: S608
            "decided_at = :at WHERE tenant_id = :t AND id = :id AND status = 'pending'"
        ),
        {"reason": reason[:1000], "by": decider.user_id, "at": now, "t": decider.tenant_id, "id": status.approval_id},
    )
    record = _decision_record(status, decider, "void", None, now, token_id)
    detail = f"level {status.level}: void, {reason}; approved on the page by {decider.user_id}"
    record.update(decision="void", outcome="refused", detail=f"{detail}; requested by {status.requested_by}")
    await append(session, schema, record)
    status.status, status.decided_by, status.decided_at, status.void_reason = "void", decider.user_id, now, reason
    status.message = f"{status.tool} was not executed: the approval is void because {reason}."
    return status


def _decision_record(
    status: ApprovalStatus, decider: Decider, decision: str, result: dict[str, Any] | None, now: datetime,
    token_id: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The decision's one audit record: the decider as user, the requester's token, the level and the requester
    in `detail`."""
    verb = "approved and executed" if decision == "approve" else "denied"
    return {
        "token_id": token_id,
        "id": new_id("au"), "tenant_id": decider.tenant_id, "occurred_at": now, "request_id": None,
        "user_id": decider.user_id, "client_id": PAGE_CLIENT_ID, "actor_kind": "page", "transport": "http",
        "tool": status.tool, "arguments": redact_arguments(status.arguments),
        "arguments_sha256": status.arguments_sha256,
        "decision": "approved" if decision == "approve" else "declined", "approval_id": status.approval_id,
        "outcome": "ok",
        "detail": f"level {status.level}: {verb} on the approval page by {decider.user_id}; "
        f"requested by {status.requested_by}",
        "output_bytes": len(canonical_json(result)) if result is not None else 0, "latency_ms": 0,
    }  # fmt: skip


__all__ = [
    "Decider", "approval_for", "decidable_approvals", "decide", "decision_transaction", "with_url",
]  # fmt: skip
