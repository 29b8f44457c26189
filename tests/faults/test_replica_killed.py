"""A replica killed behind the gateway: clients keep working through the other one.

The real topology (`supplychain.gateway_up.start_gateway`: HAProxy in front of two replica processes per
server) on the fault tests' own database. Clients call through the gateway without pause; one
inventory replica is killed (SIGKILL) in the middle. Proven: no call hangs (each ends within
CALL_BOUND_SECONDS); calls in flight on the dead replica at that moment may fail, but only with the
gateway's 502/503 or a closed connection, at most one per client, and only before the replica is known
dead; every call started DETECTION_SECONDS after the kill succeeds
(HAProxy checks every second and marks a replica down after two failures; it also redispatches
connection failures to the other replica at once).
"""

from __future__ import annotations

import ssl
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from supplychain.gateway_up import Gateway
from tests.faults.conftest import OwnDatabase
from tests.gateway.topology import running_topology
from tests.http.rpc import call_tool
from tests.http.stack import Idp
from tests.http.tokens import mint

pytestmark = [pytest.mark.slow, pytest.mark.haproxy]

CLIENTS = 8
CALL_BOUND_SECONDS = 15.0
DETECTION_SECONDS = 4.0
DISCONNECTED = 0  # the status recorded for a call whose connection closed without an answer


@pytest.fixture
def topology(
    own_database: OwnDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Gateway, Idp, ssl.SSLContext]]:
    # The replicas inherit this environment: lift the per-tenant limit, this test is about failover.
    monkeypatch.setenv("SUPPLYCHAIN_INVENTORY_RATE_LIMIT", "1000000/minute")
    with running_topology(tmp_path, default_tenant_limit=1_000_000) as topology:
        yield topology


async def test_clients_keep_working_when_a_replica_is_killed(topology: tuple[Gateway, Idp, ssl.SSLContext]) -> None:
    gateway, idp, ca = topology
    url = gateway.urls["inventory"]
    tokens = [mint(idp, user=user, server="inventory") for user in ("alice@acme", "bob@globex")]
    calls: list[tuple[float, float, int, bool, int]] = []  # started, ended, status, tool succeeded, client
    stop_at = time.monotonic() + 9.0

    async def client(number: int) -> None:
        async with httpx2.AsyncClient(verify=ca, timeout=CALL_BOUND_SECONDS) as http:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    response = await call_tool(http, url, tokens[number % 2], "list_warehouses")
                except httpx2.RemoteProtocolError:
                    # In flight on the killed replica: HAProxy may close the client's connection instead
                    # of answering 502 (a request it cannot safely retry). Counted as a failed call.
                    calls.append((started, time.monotonic(), DISCONNECTED, False, number))
                    continue
                ok = response.status_code == 200 and '"isError":false' in response.text.replace(" ", "")
                calls.append((started, time.monotonic(), response.status_code, ok, number))
                await anyio.sleep(0.01)

    async with anyio.create_task_group() as group:
        for number in range(CLIENTS):
            group.start_soon(client, number)
        await anyio.sleep(3.0)
        victim = gateway.replicas["inventory"][0]
        killed_at = time.monotonic()
        await anyio.to_thread.run_sync(victim.kill)

    before = [c for c in calls if c[1] < killed_at]
    failed = [c for c in calls if not c[3]]
    late = [c for c in calls if c[0] >= killed_at + DETECTION_SECONDS]
    print(
        f"{len(calls)} calls through the gateway, {len(before)} before the kill; "
        f"{len(failed)} failed (statuses {sorted({c[2] for c in failed})}); "
        f"{sum(c[3] for c in late)} of {len(late)} calls started {DETECTION_SECONDS:.0f} s after the kill served"
    )
    assert before and all(c[3] for c in before)
    assert max(ended - started for started, ended, *_rest in calls) <= CALL_BOUND_SECONDS
    assert all(status in (502, 503, DISCONNECTED) for _st, _en, status, *_rest in failed)
    failures_per_client = Counter(client for *_call, client in failed)
    assert all(count <= 1 for count in failures_per_client.values()), failures_per_client
    assert all(started < killed_at + DETECTION_SECONDS for started, *_rest in failed)
    assert late and all(ok for _st, _en, _s, ok, _client in late)
