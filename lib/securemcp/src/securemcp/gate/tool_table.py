"""A server's tool table, and the registration that refuses a table that would let something slip through.

Each server's `server.py` holds one `TOOLS` table, in the order `tools/list` shows it: a `ReadTool` row
per read (its function, the scope it needs, its annotations, a title) and each side effect's
declaration (`securemcp.gate.side_effects.SideEffect`: scope, level, question, effect, annotations).
`register_tools` adds them to the server and installs the gate that enforces them on every call
(`securemcp.gate.tool_gate`). At start-up it refuses:

- any tool that requires a scope reserved for decisions (`<server>:decide`: deciding is a person's
  act on the approval page, never a tool's);
- a read that asks for approval or is not annotated read-only (a change is declared as a
  `SideEffect`), a side effect annotated read-only, and a tool listed twice;
- a deployment level setting (`approval_levels`) that names an unknown or read-only tool, or that
  would lower a side effect's level.

So the table in each `server.py` cannot drift from what the code does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from securemcp.approvals.answer import asks_for_approval
from securemcp.approvals.pending import ApprovableTool
from securemcp.gate.prompts import UnknownPromptRefusal
from securemcp.gate.side_effects import SideEffect
from securemcp.gate.tool_gate import ToolGate, ToolRule
from securemcp.levels import Level, deployment_level
from securemcp.observability.request_id import RequestContextMiddleware
from securemcp.policy import is_decision_scope, reading_scope
from securemcp.settings import ServerSettings


@dataclass(frozen=True)
class ReadTool:
    """A tool that changes nothing: its function (whose docstring a model reads), scope, annotations and title."""

    function: Callable[..., Any]
    scope: str
    annotations: ToolAnnotations
    title: str

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def rule(self) -> ToolRule:
        """What the tool gate enforces: the scope."""
        return ToolRule(self.scope)

    @property
    def description(self) -> str:
        return self.function.__doc__ or ""


ToolTable = Sequence[ReadTool | SideEffect[Any, Any]]


def approval_floors(tools: ToolTable, settings: ServerSettings | None) -> dict[str, Level]:
    """Each side effect's least level in this deployment: its declared one, raised by `settings.approval_levels`.

    Refuses a setting that names an unknown or read-only tool, or that would lower a level.
    """
    raised = dict(settings.approval_levels) if settings is not None else {}
    floors: dict[str, Level] = {}
    for tool in tools:
        declared = tool.level if isinstance(tool, SideEffect) else None
        floor = deployment_level(tool.name, declared, raised.pop(tool.name)) if tool.name in raised else declared
        if floor is not None:
            floors[tool.name] = floor
    if raised:
        raise RuntimeError(f"APPROVAL_LEVELS names unknown tool(s): {', '.join(sorted(raised))}")
    return floors


def approval_executors(tools: ToolTable, settings: ServerSettings | None) -> dict[str, ApprovableTool]:
    """What the approval page runs for each side effect of `tools` once a person decides it."""
    floors = approval_floors(tools, settings)
    policy = settings.policy if settings is not None else None
    return {tool.name: tool.executor(floors[tool.name], policy) for tool in tools if isinstance(tool, SideEffect)}


def _with_step_up_note(description: str, scope: str, server_name: str) -> str:
    """The description, plus a sentence telling the model when calling the tool may ask for more access."""
    if scope == reading_scope(server_name):
        return description  # clients are asked for the reading scope first (the 401 challenge)
    return f"{description.rstrip()} Needs the {scope} permission; the server asks for it when called."


def register_tools(server: MCPServer[Any], tools: ToolTable, settings: ServerSettings | None = None) -> ToolGate:
    """Register `tools` on `server` and install the gate that enforces their rules (see the module docstring)."""
    floors = approval_floors(tools, settings)
    rules: dict[str, ToolRule] = {}
    for tool in tools:
        name, rule = tool.name, tool.rule
        if is_decision_scope(rule.scope):
            raise RuntimeError(f"tool {name!r} requires {rule.scope!r}, a scope reserved for deciding approvals")
        if isinstance(tool, SideEffect):
            function = tool.tool_function(floors[name])
        elif asks_for_approval(tool.function):
            raise RuntimeError(f"tool {name!r} asks for approval but is a ReadTool: declare it as a SideEffect")
        else:
            function = tool.function
        if rule.side_effect == bool(tool.annotations.read_only_hint):
            raise RuntimeError(f"tool {name!r}: readOnlyHint contradicts side_effect")
        if name in rules:
            raise RuntimeError(f"tool {name!r} is listed twice")
        description = _with_step_up_note(tool.description, rule.scope, server.name)
        server.add_tool(function, title=tool.title, description=description, annotations=tool.annotations)
        rules[name] = rule
    gate = ToolGate(server, rules, settings.offers_tool if settings is not None else None)
    # The request context first, so the gate's records and every log line carry the request id.
    server.middleware.extend([RequestContextMiddleware(), gate, UnknownPromptRefusal(server)])
    return gate
