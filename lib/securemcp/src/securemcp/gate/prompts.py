"""`prompts/get` for a prompt the server does not have: -32602 Invalid params, in both protocol eras.

The SDK raises a plain ValueError there, which reaches a 2025-11-25 client as error code 0 and a
2026-07-28 client as -32603 "Internal server error" (and logs a traceback each time). The MCP
specification answers an unknown prompt name with -32602, as the SDK already does for an unknown
resource. Found by the conformance suite's prompts-get-* scenarios at 2026-07-28.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

_NAME_SHOWN = 100  # characters of the requested name echoed in the error


class UnknownPromptRefusal:
    """MCP middleware: refuses `prompts/get` for an unregistered name before the SDK's handler runs."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self._server = server

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method == "prompts/get":
            name = str((ctx.params or {}).get("name", ""))
            if name not in {prompt.name for prompt in await self._server.list_prompts()}:
                raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name[:_NAME_SHOWN]}")
        return await call_next(ctx)
