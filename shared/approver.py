"""`supplychain approvals ...`: a thin MCP client for the people who decide out-of-band approvals.

It starts the server over stdio as a fixture user (the way Claude Desktop would, like the demo) and
calls `list_pending_approvals` or `decide_approval`. It decides nothing itself: the server checks the
user's `<server>:approve` scope, the tenant, the expiry and separation of duties.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.types import TextContent

from fixtures.tenants import USERS
from shared.settings import home_dir


def server_parameters(server: str, user: str) -> StdioServerParameters:
    """`server` as a stdio subprocess acting as fixture user `user`."""
    if user not in USERS:
        raise ValueError(f"unknown user {user!r}; fixture users: {', '.join(sorted(USERS))}")
    tenant, roles = USERS[user]
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env.update(
        {
            "SUPPLYCHAIN_HOME": str(home_dir()),
            "SUPPLYCHAIN_TENANT": tenant,
            "SUPPLYCHAIN_USER": user,
            "SUPPLYCHAIN_ROLES": ",".join(roles),
        }
    )
    return StdioServerParameters(
        command=sys.executable, args=["-m", "shared.cli", "serve", server, "--transport", "stdio"], env=env
    )


def _text(result: Any) -> str:
    return next((block.text for block in result.content if isinstance(block, TextContent)), "")


def _describe(item: dict[str, Any]) -> str:
    return (
        f"{item['approval_id']}  {item['status']}  {item['tool']}  requested by {item['requested_by']}  "
        f"expires {item['expires_at']}\n    {item['summary']['text']}\n    arguments: {json.dumps(item['arguments'])}"
    )


async def run(server: str, user: str, action: str, approval_id: str | None = None) -> tuple[bool, str]:
    """Do `action` (list, approve, deny) on `server` as `user`; (succeeded, what to print)."""
    async with Client(server_parameters(server, user)) as client:
        if action == "list":
            lines: list[str] = []
            cursor: str | None = None
            while True:
                result = await client.call_tool("list_pending_approvals", {"cursor": cursor} if cursor else {})
                if result.is_error or result.structured_content is None:
                    return False, _text(result)
                lines += [_describe(item) for item in result.structured_content["items"]]
                cursor = result.structured_content.get("next_cursor")
                if not cursor:
                    break
            return True, "\n".join(lines) if lines else f"{server}: no pending approvals"
        decision = {"approve": "approve", "deny": "deny"}[action]
        result = await client.call_tool("decide_approval", {"approval_id": approval_id, "decision": decision})
        if result.is_error or result.structured_content is None:
            return False, _text(result)
        status = result.structured_content
        shown = f"{status['approval_id']}: {status['status']} by {status['decided_by']} ({status['tool']})"
        if status.get("result") is not None:
            shown += "\nresult: " + json.dumps(status["result"], indent=2)
        return True, shown
