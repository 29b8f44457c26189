"""Replicas: a 2026-07-28 approval answered on the other replica, and a replica killed mid-run.

The replicas are separate processes, so without the shared request-state key (REQUEST_STATE_KEY_FILE)
each would seal with a key of its own and the other would refuse the follow-up.
"""

from __future__ import annotations

import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client

from tests.gateway.conftest import Edge, status_of
from tests.gateway.topology import wait_until_replicas_accept
from tests.helpers import Human, admin_rows
from tests.http.clients import mcp_client
from tests.http.tokens import flow_token

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.haproxy]


class SplitReplicas(httpx2.AsyncBaseTransport):
    """Bypasses the gateway (Host stays the public one): a request that carries sealed request state (the
    answer to an approval question) goes to the second replica, every other request to the first."""

    def __init__(self, asks: str, answers: str) -> None:
        self.asks, self.answers = asks, answers
        self.sent: list[tuple[str, bytes]] = []
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        request.url = httpx2.URL(self.answers if b'"requestState"' in body else self.asks)
        self.sent.append((str(request.url), body))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_approval_sealed_by_one_replica_is_completed_by_the_other(edge: Edge, admin_url: str) -> None:
    asks, answers = (replica.local_url for replica in edge.gateway.replicas["inventory"])
    transport = SplitReplicas(asks, answers)
    token = edge.token("alice@acme")
    human = Human()
    async with (
        httpx2.AsyncClient(transport=transport, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        mcp.Client(
            streamable_http_client(edge.url("inventory"), http_client=http), elicitation_callback=human
        ) as client,
    ):
        created = await client.call_tool("create_reorder", {"sku": "NUT-M8", "warehouse": "AMS-1", "quantity": 3})
    assert not created.is_error, created
    assert len(human.questions) == 1
    calls = [url for url, body in transport.sent if b'"tools/call"' in body]
    assert calls == [asks, answers]  # the question was sealed by one replica, the answer opened by the other
    rows = await admin_rows(
        admin_url, "SELECT quantity FROM inventory.reorders WHERE sku = 'NUT-M8' AND status = 'open'"
    )
    assert rows == [(3,)]


async def test_killing_a_replica_mid_run_leaves_clients_working(edge: Edge) -> None:
    token = (await flow_token(edge.idp, user="alice@acme", server="inventory"))["access_token"]
    victim = edge.gateway.replicas["inventory"][0]
    results = []
    before = edge.mark()
    try:
        async with mcp_client(edge.url("inventory"), token, verify=edge.ca) as client:
            for call in range(12):
                if call == 4:
                    victim.kill()  # SIGKILL between two calls; HAProxy has not noticed yet
                results.append(await client.call_tool("list_warehouses", {}))
        async with mcp_client(edge.url("inventory"), token, mode="legacy", verify=edge.ca) as legacy:
            results.append(await legacy.call_tool("list_warehouses", {}))  # a new session finds the survivor
    finally:
        edge.gateway.start_replica("inventory", 0)
        wait_until_replicas_accept(edge.gateway, edge.idp)
    assert [result.is_error for result in results] == [False] * 13
    lines = edge.new_log_lines(before, count=13)
    assert {status_of(line) for line in lines} <= {200, 202}, lines  # no request failed at the edge either
