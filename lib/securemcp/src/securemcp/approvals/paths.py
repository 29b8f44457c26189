"""How a side-effecting call reaches the person who must say yes, by its approval level.

- `confirm`: the requester's client is asked a form question in band (`securemcp.approvals.answer.ask`), as fast
  as before: no database work before the answer. A client that cannot be asked gets a pending approval.
- `verified` / `four_eyes`: a form answer never counts (it proves only that a client said yes). The call
  records a pending approval carrying its level, decided only on the approval page by a signed-in
  person (`securemcp.approvals.decisions`). Then, for `verified` and a client that declares URL elicitation:
  - 2025-11-25: the page's URL is sent by URL elicitation (`ctx.elicit_url`); the call waits, bounded
    (`SUPPLYCHAIN_APPROVAL_WAIT_SECONDS`, never past expiry), polling the approval's row, and returns the
    executed result (then notifies elicitation complete);
  - 2026-07-28: the answer is an input-required result with a URL-mode request and a request state naming
    the approval (sealed by the SDK's boundary, bound to the caller and the exact request); the retry is
    answered from the server's own state (`securemcp.gate.deferred_approvals`).
  Any other client, and every `four_eyes` call, gets a tool result with the approval id and the page URL;
  `get_approval` reports the outcome later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from mcp.server.mcpserver import Context, Elicit
from mcp.types import CallToolResult, TextContent
from mcp_types.version import is_version_at_least

from securemcp.approvals.answer import ConfirmAnswer, Deferred, ask
from securemcp.approvals.pending import (
    ApprovalSettings,
    ApprovalStatus,
    Question,
    Requester,
    executors_for,
    insert_pending,
    load_approval,
)
from securemcp.errors import SupplyChainError
from securemcp.levels import Level
from securemcp.runtime.caller import Caller
from securemcp.runtime.unit_of_work import current_call
from securemcp.settings import approval_page_url
from securemcp.untrusted import fenced

POLL_SECONDS = 0.5  # one short read per poll while a 2025-11-25 call waits for the page
INPUT_REQUIRED_VERSION = "2026-07-28"
STATE_KEY = "supplychain_approval"  # the request state of a URL-mode round names the approval under this key

_WHO = {
    "confirm": "its requester",
    "verified": "its requester, signed in on the approval page",
    "four_eyes": "another person of your organisation who may decide approvals (never the requester), "
    "signed in on the approval page",
}


# Set by `securemcp.gate.deferred_approvals.DeferredApprovals` around each tools/call: where the resolver
# leaves its answer.
deferred_holder: ContextVar[list[Deferred] | None] = ContextVar("supplychain_deferred_approval", default=None)


def can_be_asked(ctx: Context) -> bool:
    """True when the client declared form elicitation (the SDK's own rule: a bare `elicitation: {}` counts)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def can_open_urls(ctx: Context) -> bool:
    """True when the client declared URL elicitation (`capabilities.elicitation.url`)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and elicitation.url is not None


def input_required_era(ctx: Context) -> bool:
    """True on 2026-07-28 and later, where the server asks by input-required results, not requests."""
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION)


def pending_message(status: ApprovalStatus) -> str:
    """What a requester is told about a pending approval: who decides, where, and how to follow it."""
    return (
        f"Not done yet: {status.tool} needs the approval of {_WHO[status.level]} (level {status.level}). "
        f"Pending approval {status.approval_id} (expires {status.expires_at.isoformat()}); what it will do is "
        f"in its summary. Decide it at {status.url} ; check it with get_approval."
    )


def executed_message(status: ApprovalStatus) -> str:
    """What a requester is told once the approval page's decision ran the call."""
    return (
        f"{status.tool} was approved by {status.decided_by} on the approval page and executed once; "
        "its result is in `result`."
    )


def approval_result(status: ApprovalStatus) -> CallToolResult:
    """The tool result that stands for `status`: its message, then the status with outside text fenced."""
    result = fenced(status)
    first = result.content[0]
    body = first.text if isinstance(first, TextContent) else ""
    return CallToolResult(content=[TextContent(type="text", text=f"{status.message}\n\n{body}")],
                          structured_content=result.structured_content)  # fmt: skip


async def seek_approval(
    ctx: Context, caller: Caller, question: Question, level: Level
) -> Elicit[ConfirmAnswer] | Deferred:
    """Every approval resolver's last step: ask the requester's client (confirm) or record a pending approval.

    `level` is this call's, decided by the resolver on what the call acts on (`securemcp.gate.side_effects`).
    """
    call = current_call()
    if call is None or not call.side_effect:
        raise SupplyChainError("refused: an approval can only be sought inside a side-effecting tool call")
    if level == "confirm" and can_be_asked(ctx):
        return ask(question.sentence)
    call.decision = "pending"  # before any transaction opens: the call waits for no answer in it
    executor = executors_for(call.schema).get(call.tool)
    policy = executor.policy if executor is not None else None
    wait_here = level == "verified" and can_open_urls(ctx) and not input_required_era(ctx)
    recorded = dict(
        schema=call.schema, tenant_id=caller.identity.tenant_id, requested_by=caller.identity.user_id,
        requested_by_person=caller.identity.person_id,
        tool=call.tool, arguments=call.arguments, level=level, question=question,
        url_of=lambda approval_id: approval_page_url(caller.approvals_url, approval_id, caller.identity.tenant_id),
        requester=Requester(token_id=call.attribution.token_id, grant_id=call.attribution.grant_id,
                            roles=tuple(sorted(caller.identity.roles)),
                            policy_version=policy.version if policy is not None else None),
    )  # fmt: skip
    # Waiting for the page: the row must be committed before the URL is shown. Otherwise it joins
    # the call's transaction and commits with the call's audit record.
    async with caller.lookup() if wait_here else caller.transaction() as session:
        status = await insert_pending(session, **recorded)  # type: ignore[arg-type]
    call.approval_id = status.approval_id
    status.message = pending_message(status)
    if wait_here:
        status = await _wait_for_page(ctx, caller, status, question)
        async with caller.transaction():
            pass  # opens the call's transaction: its idempotency key is locked and kept with the record
    deferred = Deferred(status, ask_url=level == "verified" and can_open_urls(ctx) and input_required_era(ctx))
    holder = deferred_holder.get()
    if holder is not None:
        holder.append(deferred)
    return deferred


async def _wait_for_page(ctx: Context, caller: Caller, status: ApprovalStatus, question: Question) -> ApprovalStatus:
    """2025-11-25: show the page by URL elicitation, then poll the row until decided, expired or the bound."""
    answer = await ctx.elicit_url(
        f"{question.sentence}\n\nOpen the approval page, sign in and decide there.", status.url, status.approval_id
    )
    if answer.action != "accept":
        return status  # the person did not open it now: the approval stays pending
    deadline = min(status.expires_at, datetime.now(UTC) + timedelta(seconds=ApprovalSettings().approval_wait_seconds))
    while True:
        async with caller.lookup() as session:
            current = await load_approval(session, caller.schema, caller.identity.tenant_id, status.approval_id)
        if current.status != "pending" or datetime.now(UTC) >= deadline:
            break
        await anyio.sleep(POLL_SECONDS)
    current.url, current.message = status.url, status.message
    if current.status != "pending":
        await ctx.session.send_elicit_complete(status.approval_id, related_request_id=ctx.request_id)
    return current


def approval_named_in(params: Mapping[str, Any]) -> str | None:
    """The approval id a (boundary-verified) request state names, if it is one of ours."""
    state = params.get("requestState")
    if not isinstance(state, str) or STATE_KEY not in state:
        return None
    try:
        named = json.loads(state).get(STATE_KEY)
    except (ValueError, AttributeError):
        return None
    return named if isinstance(named, str) else None
