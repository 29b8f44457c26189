"""The load generator: keep-alive HTTP/1.1 connections sending pre-built 2026-07-28 requests.

Kept light so that it is not what limits the numbers: an asyncio `Protocol` per connection, the
request bytes built once before the run, responses parsed by httptools (C), and per-call work
reduced to one `json.loads` of the answer to check it. The runner reports the client's own CPU use
next to every measurement: near 100 % of its core would mean the client, not the server, is the limit.

A 2026-07-28 request is one self-contained POST: protocol version, method and tool name travel as
headers and in `params._meta`; there is no `initialize` and no session.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from typing import Any

import httptools

PROTOCOL = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": PROTOCOL,
    "io.modelcontextprotocol/clientInfo": {"name": "supplychain-bench", "version": "0"},
    # Form elicitation: the load client answers approval questions itself (the write case).
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
}


class CallFailed(Exception):
    """A response that was not the expected success."""


def tools_call_body(tool: str, arguments: Mapping[str, Any], extra_params: Mapping[str, Any] | None = None) -> bytes:
    params = {"name": tool, "arguments": dict(arguments), **(extra_params or {}), "_meta": META}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).encode()


def http_request(host: str, path: str, body: bytes, *, headers: Mapping[str, str]) -> bytes:
    """The complete bytes of one keep-alive POST."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def tool_headers(tool: str, token: str | None) -> dict[str, str]:
    headers = {"MCP-Protocol-Version": PROTOCOL, "Mcp-Method": "tools/call", "Mcp-Name": tool}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def json_rpc_result(status: int, body: bytes) -> dict[str, Any]:
    """The JSON-RPC `result` of a 200 answer (plain JSON or the last SSE `data:` line), else CallFailed."""
    if status != 200:
        raise CallFailed(f"HTTP {status}: {body[:200]!r}")
    if not body.startswith(b"{"):
        data = [line for line in body.splitlines() if line.startswith(b"data:")]
        if not data:
            raise CallFailed(f"no JSON-RPC message in {body[:200]!r}")
        body = data[-1][5:]
    message = json.loads(body)
    result = message.get("result")
    if not isinstance(result, dict):
        raise CallFailed(f"JSON-RPC error: {str(message.get('error'))[:200]}")
    return result


def structured(result: Mapping[str, Any]) -> dict[str, Any]:
    """The structured output of a successful tools/call result, else CallFailed."""
    if result.get("isError"):
        raise CallFailed(f"tool error: {str(result.get('content'))[:200]}")
    content = result.get("structuredContent")
    if not isinstance(content, dict):
        raise CallFailed(f"no structured content: {str(result)[:200]}")
    return content


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; `request` sends bytes and returns (status, body)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None  # asyncio's or uvloop's transport (uvloop's are not asyncio.Transport)
        self.body: list[bytes] = []
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, host: str, port: int, tls: ssl.SSLContext | None = None) -> Connection:
        loop = asyncio.get_running_loop()
        _transport, connection = await loop.create_connection(cls, host, port, ssl=tls)
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(CallFailed("connection closed by the server"))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.transport is None or self.transport.is_closing():
            raise CallFailed("connection closed by the server")
        self.body = []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
