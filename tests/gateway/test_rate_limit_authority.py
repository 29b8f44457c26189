"""Which per-tenant rate limit holds: the edge's, whatever the number of workers, replicas and gateway nodes.

A server's own limit (`RATE_LIMIT`) counts in each worker process: straight at a server with two
workers, a tenant gets more than one process's limit, and at most two times it. Through the gateway,
the tenant gets exactly the edge limit, once across two replicas of two workers each, and once across
two gateway nodes that share their counters as peers. The process limit is set below the edge's only to
keep these tests short: 8 through the edge matches neither one process's 5 nor the workers' 10 or 20.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.gateway.limits_topology import (
    EDGE_LIMIT,
    PROCESS_LIMIT,
    WORKERS,
    LimitsTopology,
    limits_topology,
    tenant_count,
)
from tests.http.rpc import list_tools

pytestmark = pytest.mark.haproxy

EDGE_REFUSAL = {"error": "rate_limited", "error_description": "tenant request limit reached"}
SERVER_REFUSAL = {
    "error": "rate_limited",
    "error_description": f"tenant request limit {PROCESS_LIMIT} per 1 minute reached",
}
DIRECT_ATTEMPTS = 12 * PROCESS_LIMIT  # the kernel hands connections to either worker: enough to reach both
EDGE_ATTEMPTS = 2 * EDGE_LIMIT


@pytest.fixture(scope="module")
def limits(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[LimitsTopology]:
    with limits_topology(supplychain_home / "rate-limit-authority") as topology:
        yield topology


async def test_straight_at_a_server_a_tenant_gets_up_to_workers_times_the_process_limit(
    limits: LimitsTopology,
) -> None:
    replica, token = limits.replicas[0], limits.token("direct-two-workers")
    statuses, refusals = [], []
    for _ in range(DIRECT_ATTEMPTS):
        async with httpx2.AsyncClient(timeout=10) as fresh:  # a new connection: either worker may accept it
            response = await list_tools(fresh, replica.local_url, token)
        statuses.append(response.status_code)
        if response.status_code == 429:
            refusals.append(response.json())
    allowed = statuses.count(200)
    assert set(statuses) <= {200, 429}, statuses
    assert PROCESS_LIMIT < allowed <= WORKERS * PROCESS_LIMIT, statuses
    assert refusals and all(refusal == SERVER_REFUSAL for refusal in refusals)


async def test_through_the_gateway_a_tenant_gets_exactly_the_edge_limit_over_replicas_and_workers(
    limits: LimitsTopology,
) -> None:
    token, responses = limits.token("edge-one-node"), []
    async with httpx2.AsyncClient(verify=limits.ca, timeout=10) as http:
        for _ in range(EDGE_ATTEMPTS):
            responses.append(await list_tools(http, limits.node_url(0), token))
    assert [response.status_code for response in responses] == [200] * EDGE_LIMIT + [429] * EDGE_LIMIT
    assert {response.headers["retry-after"] for response in responses[EDGE_LIMIT:]} == {"10"}
    assert all(response.json() == EDGE_REFUSAL for response in responses[EDGE_LIMIT:])  # the edge's, not a server's


async def until_both_nodes_count(limits: LimitsTopology, tenant: str, count: int) -> None:
    """Wait until both nodes' tables hold `count` requests of `tenant`: peers push each change within
    milliseconds, and a request that reached the other node in between would not see it yet."""
    counts: list[int] = []
    for _ in range(400):  # 2 s
        counts = [tenant_count(node, tenant) for node in limits.nodes]
        if counts == [count, count]:
            return
        await anyio.sleep(0.005)
    raise AssertionError(f"the nodes' counts of {tenant} never agreed on {count}: {counts}")


async def test_two_gateway_nodes_share_one_budget_per_tenant(limits: LimitsTopology) -> None:
    tenant, statuses = "edge-two-nodes", []
    public_host = {"Host": limits.public_host}  # both nodes serve one public name
    async with httpx2.AsyncClient(verify=limits.ca, timeout=10) as http:
        for attempt in range(EDGE_ATTEMPTS):
            node = attempt % 2
            response = await list_tools(http, limits.node_url(node), limits.token(tenant), headers=public_host)
            statuses.append((node, response.status_code))
            if response.status_code == 429:
                assert response.json() == EDGE_REFUSAL
            await until_both_nodes_count(limits, tenant, attempt + 1)  # refused requests count too
    assert [status for _, status in statuses] == [200] * EDGE_LIMIT + [429] * EDGE_LIMIT
    assert {node for node, status in statuses if status == 429} == {0, 1}  # each node refuses on the shared count


async def test_the_peers_link_refuses_a_client_without_a_certificate_of_the_peers_ca(limits: LimitsTopology) -> None:
    """Anyone who could talk to the peers port could rewrite a tenant's counter: mutual TLS keeps them out."""
    host, port = limits.nodes[0].peers["gw0"].rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(limits.nodes[0].folder / "peers-ca.pem"))  # no certificate

    def hello() -> bytes:
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.sendall(b"HAProxyS 2.1\ngw1\ngw0 1 1\n")  # the peers protocol's greeting, as node gw1
            return tls.recv(100)

    with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
        await anyio.to_thread.run_sync(hello)
