"""Two answers the MCP conformance suite found wrong (scripts/conformance/), fixed in `shared/`.

- A header value with whitespace around it is the value without it (RFC 9110, section 5.5): uvicorn's
  httptools parser kept it, so a legal `Mcp-Name: list_warehouses ` got 400 HeaderMismatch
  (`securemcp.http.header_values`). Trimming must not weaken a check: a different name, or a disallowed Host,
  padded with spaces, is still refused.
- `prompts/get` for a prompt the server does not have is -32602 Invalid params in both protocol eras
  (`securemcp.gate.prompts`); it was -32603 "Internal server error" at 2026-07-28 and code 0 at 2025-11-25.

The padded headers go through `http.client`, which sends a value as given (httpx2 refuses them).
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import anyio
import httpx2
import pytest

from deployment.registry import SERVERS
from tests.http.rpc import ACCEPT, LEGACY, bearer, initialize, modern_request
from tests.http.stack import Server, Stack
from tests.http.tokens import mint
from tests.server_cases import reader


def _post(port: int, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("POST", "/mcp", skip_host=True, skip_accept_encoding=True)
        payload = json.dumps(body).encode()
        for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(len(payload))}.items():
            connection.putheader(name, value)
        connection.endheaders(payload)
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    if text.startswith("event:") or text.startswith("data:"):  # an SSE stream: its one JSON-RPC message
        text = next(line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: "))
    try:
        return response.status, json.loads(text)
    except ValueError:  # a refusal before the MCP layer is plain text
        return response.status, {"text": text}


async def raw_post(server: Server, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST `body` to the server's /mcp with `headers` sent as given; the status and the JSON-RPC message
    (or `{"text": ...}` for a plain-text answer)."""
    return await anyio.to_thread.run_sync(_post, server.settings.listen_port, headers, body)


def list_warehouses(stack: Stack, *, mcp_name: str, host: str | None = None) -> tuple[dict[str, str], dict[str, Any]]:
    """A 2026-07-28 tools/call of list_warehouses with the given Mcp-Name (and Host) header values."""
    server = stack["inventory"]
    request = modern_request("tools/call", {"name": "list_warehouses", "arguments": {}}, name="list_warehouses")
    token = mint(stack.idp, user="alice@acme", server="inventory")
    headers = {
        "Host": host if host is not None else f"127.0.0.1:{server.settings.listen_port}",
        **request["headers"],
        **bearer(token),
        "Mcp-Name": mcp_name,
    }
    return headers, request["json"]


def prompts_get(name: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": "prompts/get", "params": {"name": name}}


def message_of(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of an answer (JSON, or the one `message` event of an SSE stream)."""
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        text = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")][-1]
    message: dict[str, Any] = json.loads(text)
    return message


@pytest.mark.usefixtures("seeded")
async def test_header_values_padded_with_whitespace_mean_the_value_itself(stack: Stack) -> None:
    port = stack["inventory"].settings.listen_port
    for padded in ("list_warehouses ", "list_warehouses\t", "   list_warehouses \t "):
        headers, body = list_warehouses(stack, mcp_name=padded, host=f"127.0.0.1:{port}  ")
        status, message = await raw_post(stack["inventory"], headers, body)
        assert status == 200, message
        assert message["result"]["isError"] is False, message
        assert [w["code"] for w in message["result"]["structuredContent"]["items"]] == ["AMS-1", "RTM-2"]


async def test_trimming_does_not_weaken_the_header_checks(stack: Stack) -> None:
    inventory = stack["inventory"]
    mismatch = {"code": -32020, "message": "mcp-name header does not match the request body's 'name' parameter"}
    for other in (" create_reorder ", "list_ warehouses", "list_warehouses\t\tx"):
        status, message = await raw_post(inventory, *list_warehouses(stack, mcp_name=other))
        assert (status, message["error"]) == (400, mismatch), other
    # The Host allow-list still reads the trimmed value: a padded foreign host is refused.
    headers, body = list_warehouses(stack, mcp_name="list_warehouses", host="  evil.example  ")
    assert await raw_post(inventory, headers, body) == (421, {"text": "Invalid Host header"})


@pytest.mark.parametrize("server_name", SERVERS)
async def test_an_unknown_prompt_is_invalid_params_in_both_protocol_eras(stack: Stack, server_name: str) -> None:
    server = stack[server_name]
    token = mint(stack.idp, user=reader(server_name), server=server_name)
    hostile = "test_simple_prompt_" + "x" * 5000  # a long name: the error echoes only its first 100 characters
    expected = {"code": -32602, "message": "Unknown prompt: " + hostile[:100]}
    async with httpx2.AsyncClient(timeout=10) as http:
        request = modern_request("prompts/get", {"name": hostile}, name=hostile)
        modern = await http.post(server.url, json=request["json"], headers={**request["headers"], **bearer(token)})
        opened = await initialize(http, server.url, token)
        session = opened.headers["mcp-session-id"]
        legacy = await http.post(
            server.url,
            json=prompts_get(hostile),
            headers={"Accept": ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY, **bearer(token)},
        )
    assert message_of(modern)["error"] == expected, modern.text
    assert message_of(legacy)["error"] == expected, legacy.text
