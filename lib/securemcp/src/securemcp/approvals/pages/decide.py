"""The pages' side of a decision: open the person's tenant transaction and call `securemcp.approvals.decisions`.

What may be seen and decided, by whom, and when is decided there (level, four eyes, expiry, a second
decision, a sign-in too old); this module turns each outcome into the page a person should see:

    NotFoundError        404, the same page for an unknown id and another organisation's
    DeciderRefusedError  403, a clear refusal (e.g. the requester of a four-eyes approval); nothing changed
    ConflictError        409, already decided or expired; nothing changed
    SignInTooOldError    303 to sign in again (prompt=login), then back to the approval

Each refusal leaves an audit record naming the decider, the approval and the reason
(`securemcp.approvals.refused_decisions`); a record that cannot be written is logged, and the person
still sees the refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from securemcp.approvals.decisions import Decider, approval_for, decidable_approvals, decide, decision_transaction
from securemcp.approvals.pages.config import PagesConfig
from securemcp.approvals.pages.signin import SignedIn
from securemcp.approvals.pages.views import Views
from securemcp.approvals.pending import ApprovalStatus
from securemcp.approvals.refused_decisions import record_refused_decision
from securemcp.errors import (
    ConflictError,
    DeciderRefusedError,
    NotFoundError,
    SignInTooOldError,
    TemporarilyUnavailableError,
)
from securemcp.identity.tokens import RevocationList
from securemcp.policy import RolePolicy

logger = logging.getLogger(__name__)

RevocationsFor = Callable[[str], RevocationList | None]  # a tenant's issuer's revocation list, if it keeps one


class PagesUnavailable(Exception):
    """The server's database engine is not running (the server is starting or stopping)."""


def decider_of(person: SignedIn, policy: RolePolicy) -> Decider:
    """The person as `securemcp.approvals.decisions` knows a decider, their scopes re-derived by `policy`."""
    return Decider(
        tenant_id=person.tenant_id, user_id=person.user_id, roles=person.roles, auth_time=person.auth_time,
        allowed_scopes=policy.scopes_for_known_roles(person.roles), person_id=person.person_id,
    )  # fmt: skip


class Decisions:
    """Reads and decides approvals for signed-in people, in their own tenant only."""

    def __init__(
        self, config: PagesConfig, engine: Callable[[], AsyncEngine | None], revocations: RevocationsFor | None = None
    ) -> None:
        self.config = config
        self._engine = engine
        # Per tenant, its issuer's list as the token verifier polls it: a decision re-checks the requester there.
        self._revocations = revocations

    def _transaction(self, person: SignedIn) -> Any:
        engine = self._engine()
        if engine is None:
            raise PagesUnavailable
        return decision_transaction(engine, decider_of(person, self.config.policy))

    async def decidable(self, person: SignedIn) -> list[ApprovalStatus]:
        """The approvals `person` may decide now."""
        async with self._transaction(person) as session:
            return await decidable_approvals(
                session, schema=self.config.server, decider=decider_of(person, self.config.policy)
            )

    async def show(self, views: Views, person: SignedIn, approval_id: str, context: dict[str, Any]) -> Response:
        """The page of one approval, or the not-found page."""
        try:
            async with self._transaction(person) as session:
                approval = await approval_for(
                    session,
                    schema=self.config.server,
                    decider=decider_of(person, self.config.policy),
                    approval_id=approval_id,
                )
        except NotFoundError:
            return views.not_found(**context)
        return views.page("approval.html", title="Approval", approval=approval, outside=outside(approval), **context)

    async def decide(
        self,
        views: Views,
        person: SignedIn,
        approval_id: str,
        decision: str,
        shown_sha256: str,
        context: dict[str, Any],
    ) -> Response:
        """Decide `approval_id` as `person`; the page of the outcome (a refusal is recorded first)."""
        current: ApprovalStatus | None = None
        try:
            async with self._transaction(person) as session:
                decider = decider_of(person, self.config.policy)
                current = await approval_for(
                    session, schema=self.config.server, decider=decider, approval_id=approval_id
                )
                if shown_sha256 != current.arguments_sha256:
                    raise ConflictError("the arguments shown are not the approval's; nothing changed")
                approval = await decide(
                    session, schema=self.config.server, decider=decider, approval_id=approval_id,
                    decision="approve" if decision == "approve" else "deny",
                    revocations=self._revocations(person.tenant_id) if self._revocations is not None else None,
                )  # fmt: skip
        except (NotFoundError, DeciderRefusedError, ConflictError, SignInTooOldError) as refusal:
            await self.record_refusal(person, approval_id, decision, str(refusal), current)
            if isinstance(refusal, SignInTooOldError):
                raise  # the pages send the person to sign in again
            if isinstance(refusal, NotFoundError):
                return views.not_found(**context)
            if isinstance(refusal, DeciderRefusedError):
                return views.message(title="You cannot decide this approval", status=403, kind="refused",
                                     message=str(refusal), **context)  # fmt: skip
            return views.message(title="Not decided", status=409, kind="conflict", message=str(refusal), **context)
        except TemporarilyUnavailableError:
            return views.message(
                title="Try again", status=503, message="The database cannot be reached; nothing changed.", **context
            )
        done = "approved and executed" if approval.status == "executed" else approval.status
        return views.message(
            title="Decided", status=200, kind="done", message=f"{approval.approval_id} was {done} by {person.user_id}.",
            detail=approval.summary, **context,
        )  # fmt: skip

    async def record_refusal(
        self, person: SignedIn, approval_id: str, verb: str, reason: str, approval: ApprovalStatus | None = None
    ) -> None:
        """The audit record of a refused decision; a failure to write it is logged, not shown."""
        engine = self._engine()
        try:
            if engine is None:
                raise PagesUnavailable
            await record_refused_decision(
                engine, schema=self.config.server, decider=decider_of(person, self.config.policy),
                approval_id=approval_id, verb=verb, reason=reason, approval=approval,
            )  # fmt: skip
        except Exception:
            logger.exception("the audit record of a refused decision on %s could not be written", approval_id)


def outside(approval: ApprovalStatus) -> list[tuple[str, str]]:
    """The approval's outside text as (label, the outsider's words), for the marked block only."""
    return [(label, words.text) for label, words in approval.outside_text.items()]
