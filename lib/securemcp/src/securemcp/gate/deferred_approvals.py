"""What a side-effecting call answers when it was not settled in band (`securemcp.approvals.paths`).

`DeferredApprovals` is a middleware inside the tool gate:

- tools/list: side-effecting tools' output schemas also admit an `ApprovalStatus`, so a client that
  validates structured output accepts the pending answer;
- tools/call: when the resolver recorded an approval, the tool body stopped at `require_approval`; its
  refusal is replaced by the approval as it stands (pending with its page URL, executed with the result,
  or not approved), or on 2026-07-28 by an input-required result carrying a URL-mode request;
- a 2026-07-28 retry whose request state names an approval is answered from the server's own state,
  without running the tool body: executed -> the stored result (the effect ran once, at the decision);
  still pending -> the URL again; denied or expired -> not approved. The SDK's request-state boundary
  has already checked that the state is ours, unexpired, and bound to this caller and this exact
  request; the approval must also be this caller's, for this tool and these arguments.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from mcp_types import ElicitRequest, ElicitRequestURLParams, InputRequiredResult
from pydantic import BaseModel

from securemcp.approvals.answer import Deferred
from securemcp.approvals.paths import (
    STATE_KEY,
    approval_named_in,
    approval_result,
    deferred_holder,
    executed_message,
    pending_message,
)
from securemcp.approvals.pending import (
    ApprovableTool,
    ApprovalStatus,
    arguments_sha256,
    load_approval,
    register_executors,
)
from securemcp.errors import NotFoundError
from securemcp.gate.tool_gate import tool_error
from securemcp.runtime.caller import ServerState
from securemcp.runtime.unit_of_work import CallUnitOfWork, current_call
from securemcp.settings import approval_page_url
from securemcp.tenancy.database import tenant_transaction

INPUT_KEY = "approval_page"


def pending_schema_variant(output_schema: Mapping[str, Any]) -> dict[str, Any]:
    """`output_schema` widened to also allow an `ApprovalStatus` (the deferred answer)."""
    original = dict(output_schema)
    definitions = dict(original.pop("$defs", {}))
    status = ApprovalStatus.model_json_schema(ref_template="#/$defs/{model}")
    definitions.update(status.pop("$defs", {}))
    definitions["ApprovalStatus"] = status
    return {"type": "object", "anyOf": [original, {"$ref": "#/$defs/ApprovalStatus"}], "$defs": definitions}


def url_round(status: ApprovalStatus) -> InputRequiredResult:
    """2026-07-28: ask the client to show the approval page; the state names the approval for the retry."""
    request = ElicitRequest(
        params=ElicitRequestURLParams(
            message=f"{status.summary}\n\nOpen the approval page, sign in and decide there.", url=status.url
        )
    )
    return InputRequiredResult(
        input_requests={INPUT_KEY: request}, request_state=json.dumps({STATE_KEY: status.approval_id})
    )


def settled(call: CallUnitOfWork, status: ApprovalStatus) -> CallToolResult:
    """The answer for an approval as it stands; notes the decision on the call's audit record."""
    call.approval_id = status.approval_id
    if status.status == "executed":
        call.decision = "approved"
        status.message = executed_message(status)
    elif status.status in ("denied", "expired"):
        call.decision = "declined"
        who = f"denied by {status.decided_by}" if status.status == "denied" else "expired"
        return tool_error(f"{status.tool} was not approved (approval {status.approval_id} {who}); nothing changed")
    else:
        call.decision = "pending"
        status.message = pending_message(status)
    return approval_result(status)


class DeferredApprovals:
    """Middleware (inside the tool gate): see the module docstring."""

    def __init__(self, side_effecting: frozenset[str]) -> None:
        self._side_effecting = side_effecting

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method == "tools/list":
            return self._widened(await call_next(ctx))
        if ctx.method != "tools/call":
            return await call_next(ctx)
        call = current_call()
        named = approval_named_in(ctx.params or {})
        if named is not None and call is not None and call.side_effect:
            return await self._retry(ctx, call, named)
        holder: list[Deferred] = []
        token = deferred_holder.set(holder)
        try:
            result = await call_next(ctx)
        finally:
            deferred_holder.reset(token)
        if not holder or call is None or call.approval_id != holder[-1].approval.approval_id:
            return result
        deferred = holder[-1]
        if deferred.ask_url and deferred.approval.status == "pending":
            pending = settled(call, deferred.approval)  # what a fresh retry with the same key is answered
            call.pending_answer = pending.model_dump(by_alias=True, mode="json", exclude_none=True)
            return url_round(deferred.approval)
        return settled(call, deferred.approval)

    async def _retry(self, ctx: Any, call: CallUnitOfWork, approval_id: str) -> Any:
        """A 2026-07-28 retry of a URL-mode round: answered from the approval's row, never by running the tool."""
        state: ServerState = ctx.lifespan_context
        async with tenant_transaction(state.engine, call.identity) as session:
            status = await load_approval(session, call.schema, call.identity.tenant_id, approval_id)
        if (
            status.requested_by != call.identity.user_id
            or status.tool != call.tool
            or status.arguments_sha256 != arguments_sha256(call.arguments)
        ):
            raise NotFoundError("approval", approval_id)
        status.url = approval_page_url(state.approvals_url, approval_id, call.identity.tenant_id)
        answer = ((ctx.params or {}).get("inputResponses") or {}).get(INPUT_KEY)
        declined = isinstance(answer, dict) and answer.get("action") in ("decline", "cancel")
        if status.status == "pending" and not declined:
            call.approval_id, call.decision = approval_id, "pending"
            return url_round(status)
        answer = settled(call, status)
        if status.status == "executed":
            call.decision = "replayed"  # the decision was recorded by the page; this retry only reads it back
        return answer  # an idempotency key was kept by the asking round, naming this approval

    def _widened(self, result: Any) -> Any:
        if isinstance(result, BaseModel):
            result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        if isinstance(result, dict):
            tools = []
            for tool in result.get("tools", []):
                if tool.get("name") in self._side_effecting and tool.get("outputSchema"):
                    tool = {**tool, "outputSchema": pending_schema_variant(tool["outputSchema"])}
                tools.append(tool)
            result = {**result, "tools": tools}
        return result


def install_approval_paths(server: MCPServer[Any], name: str, tools: Mapping[str, ApprovableTool]) -> None:
    """Let `server` (schema `name`) record approvals for its side-effecting `tools` and run them once decided.

    Call after `register_tools`, so the middleware sits inside the tool gate.
    """
    register_executors(name, tools)
    server.middleware.append(DeferredApprovals(frozenset(tools)))
