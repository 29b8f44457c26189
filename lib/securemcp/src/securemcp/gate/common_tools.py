"""The tools every server offers besides its own: the activity log and reading one's approvals."""

from __future__ import annotations

from mcp.types import ToolAnnotations

from securemcp.approvals.pending import get_approval
from securemcp.gate.activity import get_activity_log
from securemcp.gate.tool_table import ReadTool


def common_tools(name: str) -> tuple[ReadTool, ...]:
    """The tools every server offers besides its own: the activity log and reading one's approvals.

    Scopes are derived from the server's name here, once, so the servers cannot drift apart. No
    tool decides or lists approvals to decide: that is a signed-in person's act on the approval page.
    """
    read = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
    return (
        ReadTool(get_activity_log, "audit:read", read, "Read the activity log"),
        ReadTool(get_approval, f"{name}:read", read, "Get an approval"),
    )
