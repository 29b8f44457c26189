"""A `tools/call` for a tool the server does not have is a JSON-RPC error, -32602, in both eras.

The specification's tools error handling lists unknown tools among the protocol errors (its example:
-32602 "Unknown tool: invalid_tool_name"), not tool results with `isError`. The name is cut to 100
characters in the message, and the call still leaves its audit record (`securemcp.gate.tool_gate.ToolGate`).
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.helpers import admin_rows, snapshot
from tests.http.rpc import bearer, call_tool, initialize, message_of, session_call
from tests.http.stack import Stack
from tests.http.tokens import mint

LONG_NAME = "drop_" + "x" * 195  # 200 characters: the answer and the record keep the first 100


def message_of_any_status(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of an answer, whatever its HTTP status."""
    return message_of(httpx2.Response(200, headers=response.headers, content=response.content))


@pytest.mark.parametrize("era", ["2026-07-28", "2025-11-25"])
@pytest.mark.parametrize("name", ["no_such_tool", LONG_NAME])
async def test_an_unknown_tool_is_invalid_params_and_is_recorded(
    era: str, name: str, stack: Stack, admin_url: str
) -> None:
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    last = (await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log"))[0][0]
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        if era == "2026-07-28":
            response = await call_tool(http, inventory.url, token, name, {"sku": "BOLT-M8"})
        else:
            opened = await initialize(http, inventory.url, token)
            session = opened.headers["mcp-session-id"]
            response = await session_call(http, inventory.url, token, session, name, {"sku": "BOLT-M8"})
            await http.delete(inventory.url, headers={"Mcp-Session-Id": session, **bearer(token)})
    shown = name[:100]
    # 2026-07-28 maps a JSON-RPC error to an HTTP status (the SDK's table: -32602 is 400); a
    # 2025-11-25 session answers 200 with the error in the body.
    assert response.status_code == (400 if era == "2026-07-28" else 200), response.text
    assert message_of_any_status(response)["error"] == {"code": -32602, "message": f"Unknown tool: {shown}"}
    records = await admin_rows(
        admin_url,
        "SELECT tool, user_id, outcome, detail FROM inventory.audit_log WHERE seq > :s ORDER BY seq",
        s=last,
    )
    assert records == [(shown, "alice@acme", "refused", f"Unknown tool: {shown}")]
    assert await snapshot(admin_url, "inventory") == before  # the record aside, nothing changed
