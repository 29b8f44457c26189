"""Raw Streamable HTTP requests, for tests that must see the HTTP status and headers themselves.

A 2026-07-28 request is one self-contained POST: the protocol version, method and tool name travel as
headers as well as in `params._meta`. A 2025-11-25 request belongs to a session opened by `initialize`.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def modern_request(method: str, params: dict[str, Any] | None = None, *, name: str | None = None) -> dict[str, Any]:
    """Headers and JSON body of a 2026-07-28 request (`name`: the tool of a tools/call)."""
    headers = {"Accept": ACCEPT, "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**(params or {}), "_meta": _META}}
    return {"headers": headers, "json": body}


async def call_tool(
    http: httpx2.AsyncClient,
    url: str,
    token: str | None,
    tool: str,
    arguments: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    """POST a 2026-07-28 tools/call."""
    request = modern_request("tools/call", {"name": tool, "arguments": arguments or {}}, name=tool)
    return await http.post(
        url, json=request["json"], headers={**request["headers"], **bearer(token), **(headers or {})}
    )


async def list_tools(
    http: httpx2.AsyncClient, url: str, token: str | None, *, headers: dict[str, str] | None = None
) -> httpx2.Response:
    """POST a 2026-07-28 tools/list."""
    request = modern_request("tools/list")
    return await http.post(
        url, json=request["json"], headers={**request["headers"], **bearer(token), **(headers or {})}
    )


async def initialize(http: httpx2.AsyncClient, url: str, token: str) -> httpx2.Response:
    """Open a 2025-11-25 session (the answer carries `Mcp-Session-Id`); also sends `initialized`."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "tests", "version": "0"}},
    }
    response = await http.post(url, json=body, headers={"Accept": ACCEPT, **bearer(token)})
    session = response.headers.get("mcp-session-id")
    if response.status_code == 200 and session:
        await http.post(
            url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers={"Accept": ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY, **bearer(token)},
        )
    return response


async def session_call(
    http: httpx2.AsyncClient, url: str, token: str | None, session: str, tool: str, arguments: dict[str, Any]
) -> httpx2.Response:
    """A tools/call inside a 2025-11-25 session."""
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    headers = {"Accept": ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY, **bearer(token)}
    return await http.post(url, json=body, headers=headers)


def challenge(response: httpx2.Response) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer ...` header (asserting the scheme)."""
    header = response.headers.get("www-authenticate", "")
    assert header.startswith("Bearer "), (response.status_code, header)
    return dict(_PARAM.findall(header))


def message_of(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of a 200 answer (JSON, or the last `message` event of an SSE stream)."""
    assert response.status_code == 200, (response.status_code, response.text)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
        message: dict[str, Any] = httpx2.Response(200, content=data[-1]).json()
    else:
        message = response.json()
    return message


def result_of(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC result of a 200 answer."""
    message = message_of(response)
    assert "result" in message, message
    result: dict[str, Any] = message["result"]
    return result


def error_of(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC error of a 200 answer (code and message; `data`, if any, left out)."""
    message = message_of(response)
    assert "error" in message, message
    return {key: value for key, value in message["error"].items() if key in ("code", "message")}
