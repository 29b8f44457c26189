"""The tool gate: the one place that decides whether a caller may see or call a tool.

Every tool a server registers has a `ToolRule` naming the scope it needs. The gate is an MCP
middleware around every request:

- `tools/list` shows the caller every tool its *roles* allow (not only what its token holds now, so
  a model can pick a tool and the call steps up) and the deployment offers (read-only mode,
  `SUPPLYCHAIN_TOOLS`), each schema closed with `additionalProperties: false`; a tool no role of the
  caller allows stays hidden;
- `tools/call` refuses a tool with no rule (fail closed: JSON-RPC -32602 "Unknown tool: <name>", the
  name cut to 100 characters), a tool the deployment withholds, a caller
  without the tool's scope (JSON-RPC error naming the scope; over HTTP the 403 step-up of `securemcp.http.app`
  answers first when the roles allow the scope), and arguments the tool does not declare
  (a tool error); every call, refused or not, leaves one audit record (`securemcp.audit.records`);
- a side-effecting call with an `idempotency_key` that was already used is answered from the key
  (`securemcp.gate.idempotency`) before any human is asked.

Tool annotations such as readOnlyHint are hints clients may ignore; this gate and the approval
resolver are what the server itself enforces.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent
from mcp_types import MISSING_REQUIRED_CLIENT_CAPABILITY
from pydantic import BaseModel
from pydantic_core import to_json

from securemcp.approvals.paths import approval_named_in
from securemcp.audit.attribution import attribution_of
from securemcp.errors import TemporarilyUnavailableError, database_unavailable, scope_denied
from securemcp.gate.idempotency import Answer, KeyedCall, keyed_call
from securemcp.identity.principal import Identity, IdentityError
from securemcp.observability.request_id import current_request_id
from securemcp.runtime.caller import ServerState, current_identity
from securemcp.runtime.unit_of_work import CallUnitOfWork, reset_current_call, set_current_call

logger = logging.getLogger(__name__)

Middleware = Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ToolRule:
    """What calling a tool requires: a scope, and whether it has a side effect (then a human approves it,
    at the level its declaration decides: `securemcp.gate.side_effects`)."""

    scope: str
    side_effect: bool = False


# Set in the HTTP request's scope when a call reaches the gate: `securemcp.http.refused_calls` records
# the calls the SDK refused before they got here.
REACHED = "securemcp.reached_tool_gate"


def tool_error(message: str) -> CallToolResult:
    """A tools/call result that reports `message` as a tool error."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


class ToolGate:
    """Middleware enforcing `rules` for `server`'s tools (see the module docstring)."""

    def __init__(
        self, server: MCPServer[Any], rules: Mapping[str, ToolRule], offers: Callable[..., str | None] | None = None
    ) -> None:
        self._server = server
        self._rules = dict(rules)
        # The deployment's narrowing (read-only mode, SUPPLYCHAIN_TOOLS): None means "offered".
        self._offers = offers or (lambda name, side_effect: None)
        self._declared_arguments: dict[str, frozenset[str]] | None = None

    async def _arguments_of(self, tool_name: str) -> frozenset[str] | None:
        if self._declared_arguments is None:
            self._declared_arguments = {
                tool.name: frozenset(tool.input_schema.get("properties", {}))
                for tool in await self._server.list_tools()
            }
        return self._declared_arguments.get(tool_name)

    def _identity(self, ctx: Any) -> Identity | None:
        state: ServerState = ctx.lifespan_context
        try:
            return current_identity(state)
        except IdentityError:
            return None

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method == "tools/list":
            return self._visible_tools(await call_next(ctx), self._identity(ctx))
        if ctx.method != "tools/call":
            return await call_next(ctx)

        request_scope = getattr(getattr(ctx, "request", None), "scope", None)
        if isinstance(request_scope, dict):
            request_scope[REACHED] = True
        state: ServerState = ctx.lifespan_context
        identity = self._identity(ctx)
        if identity is None:
            return tool_error("refused: no authenticated caller")  # no tenant, so no chain to record in
        name = str((ctx.params or {}).get("name", ""))[:100]
        arguments = (ctx.params or {}).get("arguments") or {}
        rule = self._rules.get(name)
        call = CallUnitOfWork(
            schema=state.name, tool=name, arguments=arguments if isinstance(arguments, dict) else {},
            identity=identity, transport=state.transport,
            request_id=current_request_id(),
            side_effect=rule is not None and rule.side_effect,
            attribution=attribution_of(getattr(ctx, "request", None), known_tool=rule is not None),
        )  # fmt: skip
        declared = await self._arguments_of(name)
        if declared is None or rule is None:
            # A protocol error, not a tool result: the specification's tools error handling lists unknown
            # tools with invalid arguments as JSON-RPC errors (-32602), as the SDK answers unknown prompts.
            message = f"Unknown tool: {name}"
            await self._record(call, state, outcome="refused", detail=message, size=0)
            raise MCPError(code=INVALID_PARAMS, message=message)
        withheld = self._offers(name, side_effect=rule.side_effect)
        if withheld is not None:
            return await self._refuse(call, state, withheld)
        if not identity.has_scope(rule.scope):
            await self._record(call, state, outcome="refused", detail=f"missing scope {rule.scope}", size=0)
            raise scope_denied(name, rule.scope)
        unknown = sorted(set(arguments) - declared) if isinstance(arguments, dict) else []
        if unknown:
            return await self._refuse(call, state, f"unknown argument(s) for {name}: {', '.join(map(repr, unknown))}")
        keyed = None
        # A 2026-07-28 URL round's retry continues the call that kept the key: it is answered from its
        # approval (`securemcp.gate.deferred_approvals`), never from the key it kept.
        if rule.side_effect and approval_named_in(ctx.params or {}) is None:
            keyed = keyed_call(call, state.engine, state.idempotency_ttl_hours)
        return await self._run(call, state, ctx, call_next, keyed)

    async def _run(
        self,
        call: CallUnitOfWork,
        state: ServerState,
        ctx: Any,
        call_next: Callable[[Any], Awaitable[Any]],
        keyed: KeyedCall | None = None,
    ) -> Any:
        """Run the tool with `call` current, then record it (committing the tool's own transaction).

        With an idempotency key (`securemcp.gate.idempotency`): a retry is answered from the key before anyone is
        asked; otherwise the key is locked and checked again as the call's transaction opens.
        """
        if keyed is not None:
            try:
                answer = await keyed.look_up()
            except Exception as failure:
                await self._record(call, state, outcome="error", detail=type(failure).__name__, size=0)
                if database_unavailable(failure):
                    return tool_error(str(TemporarilyUnavailableError()))
                raise
            if answer is not None:
                return await self._answer(call, state, answer)
            call.on_open = keyed.lock_and_check
        token = set_current_call(call)
        try:
            result = await call_next(ctx)
        except MCPError as refusal:
            if refusal.error.code == MISSING_REQUIRED_CLIENT_CAPABILITY:
                call.decision = "unanswerable"
            await self._record(call, state, outcome="refused", detail=refusal.error.message, size=0)
            raise
        except Exception as failure:
            await self._record(call, state, outcome="error", detail=type(failure).__name__, size=0)
            raise
        finally:
            reset_current_call(token)
        if keyed is not None and keyed.answer is not None:  # a concurrent call with the same key committed first
            return await self._answer(call, state, keyed.answer)
        if isinstance(result, CallToolResult) and keyed is None:
            # The common case, read off the model: a dict of it, dumped again to JSON for its size, cost
            # 25-40 us a call (measured by `supplychain bench`); the size is the same JSON, serialised once, compact.
            wire: Any = None
            asking, failed = False, bool(result.is_error)
            detail = _first_text(result.model_dump(by_alias=True, mode="json")) if failed else None
            size = len(to_json(result, by_alias=True, exclude_none=True))
        else:
            wire = (
                result.model_dump(by_alias=True, mode="json", exclude_none=True)
                if isinstance(result, BaseModel)
                else result
            )
            asking = isinstance(wire, dict) and wire.get("resultType") == "input_required"
            failed = isinstance(wire, dict) and bool(wire.get("isError"))
            detail = _first_text(wire) if failed else None
            size = len(json.dumps(wire))
        if asking:
            call.decision = "pending"  # 2026-07-28: this round asks the human; the retry is recorded on its own
        outcome = ("refused" if call.decision in ("declined", "cancelled") else "error") if failed else "ok"
        kept = call.pending_answer if asking else wire  # a round that asks is not itself an answer to replay
        if keyed is not None and outcome == "ok" and isinstance(kept, dict):
            call.on_commit = keyed.remember(kept)
        # A side effect about to commit its change with its record: if the database goes away now, the
        # commit may have landed before the connection died, and the client must be told so.
        committing_a_change = call.side_effect and outcome == "ok" and call.session is not None
        try:
            await call.finish(state.engine, outcome=outcome, detail=detail, output_bytes=size)
        except Exception as failure:
            logger.exception("audit record for %s could not be written; the call is undone", call.tool)
            if database_unavailable(failure):  # the database went away: say so, the client may retry
                return tool_error(str(TemporarilyUnavailableError(outcome_unknown=committing_a_change)))
            return tool_error(f"{call.tool} could not be recorded in the audit trail; nothing changed")
        return result

    async def _answer(self, call: CallUnitOfWork, state: ServerState, answer: Answer) -> CallToolResult:
        """Answer as an earlier call with the same idempotency key settled it: its result again, or a refusal."""
        if answer.replay is None:
            return await self._refuse(call, state, answer.refusal or "refused")
        call.decision, call.approval_id = "replayed", answer.approval_id
        size = len(answer.replay.model_dump_json(by_alias=True, exclude_none=True))
        try:
            await call.finish(state.engine, outcome="ok", detail=None, output_bytes=size)
        except Exception:
            logger.exception("audit record for %s could not be written", call.tool)
            return tool_error(f"{call.tool} could not be recorded in the audit trail; nothing changed")
        return answer.replay

    async def _refuse(self, call: CallUnitOfWork, state: ServerState, message: str) -> CallToolResult:
        await self._record(call, state, outcome="refused", detail=message, size=len(message))
        return tool_error(message)

    async def _record(self, call: CallUnitOfWork, state: ServerState, *, outcome: str, detail: str, size: int) -> None:
        """Record a call that ends without a result (refusals, failures); never masks the original answer."""
        try:
            await call.finish(state.engine, outcome=outcome, detail=detail, output_bytes=size)
        except Exception:
            logger.exception("audit record for %s could not be written", call.tool)

    def _visible_tools(self, result: Any, identity: Identity | None) -> dict[str, Any]:
        if isinstance(result, BaseModel):
            result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        if not isinstance(result, dict) or identity is None:
            return {"tools": []}  # fail closed: show nothing we could not check
        visible = []
        for tool in result.get("tools", []):
            rule = self._rules.get(tool["name"])
            offered = rule is not None and self._offers(tool["name"], side_effect=rule.side_effect) is None
            if rule is not None and offered and identity.roles_allow(rule.scope):
                visible.append({**tool, "inputSchema": {**tool["inputSchema"], "additionalProperties": False}})
        return {**result, "tools": visible}


def _first_text(wire: Mapping[str, Any]) -> str | None:
    for block in wire.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            return str(block.get("text", ""))
    return None
