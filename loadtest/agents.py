"""Simulated agents: each is one user of one tenant on one server, with a real MCP client over HTTP.

An agent mostly reads (lists, then gets what the lists returned) and sometimes writes; every write is
approved by the agent's human stand-in (the elicitation callback) when its level is confirm, or left
pending for the approval page (verified, four_eyes), and carries an idempotency key. One
write in ten is sent again with the same key, as a client does when an answer is lost: the server must
answer it from the key (same result, no second side effect). What each server's agents read and
write, and who they are, is that server's workload: `loadtest/workloads/<server>.py`.

`Tally` counts what the checks in `loadtest.invariants` compare against: HTTP statuses, tools/call
requests the servers answered, per tenant and server, and every id-shaped value each tenant was shown.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

import httpx2
import mcp
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from deployment.registry import SERVERS

ID_SHAPED = re.compile(r"\b[a-z]{2,4}_[0-9a-f]{20}\b")
RETRY_SHARE = 0.1
WRITE_SHARE = 0.2


def workload(server: str) -> ModuleType:
    """`loadtest.workloads.<server>`: who calls `server` and what (see loadtest/workloads/__init__.py)."""
    try:
        return import_module(f"loadtest.workloads.{server}")
    except ModuleNotFoundError as missing:
        if missing.name != f"loadtest.workloads.{server}":
            raise
        raise LookupError(
            f"server {server!r} has no load-test workload: write loadtest/workloads/{server}.py "
            "(AGENTS, read, write; see loadtest/workloads/__init__.py)"
        ) from None


def roster() -> list[tuple[str, str, str]]:
    """(tenant, user, server): who the agents are, for every registered server."""
    return [(tenant, user, server) for server in SERVERS for tenant, user in workload(server).AGENTS]


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    tool_calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tenant, server) -> answered POSTs
    shown: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # tenant -> ids seen
    tenant_fields: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    outcomes: Counter[str] = field(default_factory=Counter)
    tool_errors: Counter[str] = field(default_factory=Counter)  # message shape (ids blanked) -> count
    retries: int = 0
    retry_mismatches: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    reorder_quantities: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def hook(self, tenant: str, server: str) -> Callable[[httpx2.Response], Awaitable[None]]:
        async def on_response(response: httpx2.Response) -> None:
            self.statuses[response.status_code] += 1
            if response.status_code == 200 and response.request.headers.get("mcp-method") == "tools/call":
                self.tool_calls[(tenant, server)] += 1

        return on_response

    def saw(self, tenant: str, content: Any) -> None:
        for key, value in _leaves(content):
            if key == "tenant_id":
                self.tenant_fields[tenant].add(str(value))
            if isinstance(value, str):
                self.shown[tenant].update(ID_SHAPED.findall(value))


def _leaves(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _leaves(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, key)
    else:
        yield key, value


async def approve(context: Any, params: Any) -> ElicitResult:
    """The human stand-in: approves what it is asked in a form (confirm); it cannot sign in on an approval
    page, so it declines a URL request and the call answers with its pending approval."""
    if getattr(params, "mode", None) == "url":
        return ElicitResult(action="decline")
    return ElicitResult(action="accept", content={"approve": True})


class Agent:
    def __init__(
        self, tenant: str, user: str, server: str, url: str, token: str, tally: Tally, *, verify: Any = True
    ) -> None:
        self.tenant, self.user, self.server, self.url, self.token, self.tally = tenant, user, server, url, token, tally
        self.verify = verify  # the dev CA through the gateway
        self.random = random.Random(f"{tenant}/{user}/{server}/{id(self)}")  # noqa: S311 (a workload, not a secret)
        self.ids: dict[str, list[str]] = defaultdict(list)
        self.workload = workload(server)

    async def run(self, deadline: float) -> None:
        hooks = {"response": [self.tally.hook(self.tenant, self.server)]}
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30, event_hooks=hooks, verify=self.verify) as http,
                mcp.Client(streamable_http_client(self.url, http_client=http), elicitation_callback=approve) as client,
            ):
                while time.monotonic() < deadline:
                    if self.random.random() < WRITE_SHARE and (write := self.workload.write(self)) is not None:
                        await self.write_call(client, *write)
                    else:
                        await self.call(client, *self.workload.read(self))
        except Exception as failure:  # counted and reported: a transport failure is a failed invariant
            self.tally.transport_errors.append(f"{self.server}/{self.user}: {type(failure).__name__}: {failure}"[:300])

    async def call(self, client: mcp.Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        result = await client.call_tool(tool, arguments)
        answer = {"structured": result.structured_content, "text": [getattr(b, "text", "") for b in result.content]}
        self.tally.saw(self.tenant, answer)
        self.tally.outcomes["tool error" if result.is_error else "ok"] += 1
        if result.is_error:
            self.tally.tool_errors[ID_SHAPED.sub("<id>", " ".join(answer["text"]))[:90]] += 1
        if not result.is_error and result.structured_content:
            self._remember(tool, result.structured_content)
        return None if result.is_error else answer

    async def write_call(self, client: mcp.Client, tool: str, arguments: dict[str, Any]) -> None:
        keyed = {**arguments, "idempotency_key": f"lt-{uuid.uuid4().hex}"}
        first = await self.call(client, tool, keyed)
        if first is not None and self.random.random() < RETRY_SHARE:
            self.tally.retries += 1
            again = await self.call(client, tool, keyed)  # "the answer was lost": the same call again
            if again is None or json.dumps(again["structured"], sort_keys=True) != json.dumps(
                first["structured"], sort_keys=True
            ):
                self.tally.retry_mismatches.append(f"{self.server}.{tool}: {str(again)[:200]}")

    def _remember(self, tool: str, content: dict[str, Any]) -> None:
        """The ids a list returned, by the list's name: the next reads and writes use them."""
        for item in content.get("items") or []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                self.ids[tool].append(item["id"])
        del self.ids[tool][:-50]

    def pick(self, listed_by: str) -> str | None:
        """One of the ids the list tool `listed_by` returned lately, or None before it ran."""
        return self.random.choice(self.ids[listed_by]) if self.ids[listed_by] else None
