"""The answer a side-effecting tool's approval parameter holds, and the check its body makes first.

The answer is the requester's in-band yes or no (`ConfirmAnswer`, at the `confirm` level) or, when the
call was not settled in band, the pending approval that stands for it (`Deferred`).

A side-effecting tool (derived from its declaration, `securemcp.gate.side_effects`) takes
`approval: Annotated[ElicitationResult[ConfirmAnswer], Resolve(ask)]`, filled by a resolver that ends
with `securemcp.approvals.paths.seek_approval`. For a `confirm` call the
SDK asks the requester through the client (`ask`) and injects the answer; the model never sees the
parameter and no tool argument can stand in for it. The answer is bound to the exact call: on
2026-07-28 the SDK seals it into `request_state` with the principal and the request, and on
2025-11-25 it is asked and answered inside the one call. Any other call (a `verified` or `four_eyes`
level, or a client that cannot be asked) gets a pending approval instead, decided by a signed-in
person on the approval page (`securemcp.approvals.decisions`); `require_approval` then stops the tool body.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import AcceptedElicitation, Elicit, ElicitationResult, Resolve
from pydantic import BaseModel, ConfigDict, Field

from securemcp.approvals.pending import ApprovalStatus
from securemcp.errors import NotApprovedError, SupplyChainError
from securemcp.runtime.unit_of_work import current_call


class ConfirmAnswer(BaseModel):
    """The one-field form shown to the human. It never asks for secrets."""

    # The requester's in-band answer. Its docstring, title and field are the form's schema, as clients
    # have always been sent it: the class name is ours, the title stays "Approval".
    model_config = ConfigDict(title="Approval")

    approve: bool = Field(description="Approve this action?")


@dataclass
class Deferred:
    """A resolver's answer when the call is not settled in band: its pending (or now decided) approval."""

    approval: ApprovalStatus
    ask_url: bool = False  # 2026-07-28: answer with an input-required URL request naming the approval


class ApprovalPendingError(SupplyChainError):
    """Raised by `require_approval` to stop the tool body; `DeferredApprovals` turns it into a result."""


def deferred_in(outcome: ElicitationResult[ConfirmAnswer]) -> Deferred | None:
    """The pending approval an approval outcome stands for, if the call was not settled in band."""
    if isinstance(outcome, AcceptedElicitation) and isinstance(outcome.data, Deferred):
        return outcome.data
    return None


def ask(summary: str) -> Elicit[ConfirmAnswer]:
    """The question to put to the human: `summary` states exactly what will happen."""
    return Elicit(f"{summary}\n\nApprove this action?", ConfirmAnswer)


def require_approval(outcome: ElicitationResult[ConfirmAnswer], action: str) -> None:
    """Return only if the human accepted and ticked approve; otherwise refuse with nothing changed.

    The decision is noted on the call's audit record either way.
    """
    call = current_call()
    deferred = deferred_in(outcome)
    if deferred is not None:
        # Not settled in band: an approval was recorded instead (`securemcp.approvals.paths`).
        raise ApprovalPendingError(deferred.approval.message)
    if isinstance(outcome, AcceptedElicitation) and outcome.data.approve:
        if call is not None:
            call.decision = "approved"
        return
    answer = "declined" if isinstance(outcome, AcceptedElicitation) else outcome.action
    if call is not None:
        call.decision = "cancelled" if answer == "cancel" else "declined"
    raise NotApprovedError(f"{action} was not approved ({answer}); nothing changed")


def asks_for_approval(tool: Callable[..., Any]) -> bool:
    """True when `tool` has a parameter `Annotated[ElicitationResult[ConfirmAnswer], Resolve(...)]`.

    Used at start-up to prove that every side-effecting tool is gated by a human's answer.
    """
    for hint in typing.get_type_hints(tool, include_extras=True).values():
        if typing.get_origin(hint) is typing.Annotated:
            inner, *metadata = typing.get_args(hint)
            if inner == ElicitationResult[ConfirmAnswer] and any(isinstance(m, Resolve) for m in metadata):
                return True
    return False
