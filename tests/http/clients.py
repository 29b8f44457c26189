"""Real MCP clients over HTTP with a bearer token: the official `mcp` Client and the `fastmcp` Client."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import mcp
from fastmcp import Client as FastMCPClient
from fastmcp.client.transports import StreamableHttpTransport
from mcp.client.streamable_http import streamable_http_client

from tests.helpers import Human


@asynccontextmanager
async def mcp_client(
    url: str,
    token: str,
    *,
    mode: str = "auto",
    human: Human | None = None,
    verify: ssl.SSLContext | bool = True,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[mcp.Client]:
    """The `mcp` Client on `url`, sending `token` (and `headers`) on every request (mode "legacy" or "auto")."""
    headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, verify=verify, timeout=30) as http,
        mcp.Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            elicitation_callback=human,
        ) as client,
    ):
        yield client


class FastMCPHuman:
    """A human answering fastmcp's elicitation handler (same answers as `tests.helpers.Human`)."""

    def __init__(self, approve: bool = True) -> None:
        self.approve = approve
        self.questions: list[str] = []

    async def __call__(self, message: str, response_type: Any, params: Any, context: Any) -> Any:
        self.questions.append(message)
        return response_type(approve=self.approve)


@asynccontextmanager
async def fastmcp_client(
    url: str, token: str, *, mode: str = "auto", human: FastMCPHuman | None = None
) -> AsyncIterator[FastMCPClient[Any]]:
    """The `fastmcp` Client on `url` with `token` as its bearer credential."""
    async with FastMCPClient(
        StreamableHttpTransport(url, auth=token),
        mode=mode,
        elicitation_handler=human,
    ) as client:
        yield client
