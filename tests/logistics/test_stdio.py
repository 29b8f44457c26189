"""Phase 1 end to end: the logistics server as a real stdio subprocess, as Claude Desktop runs it."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import pending_approval_id, snapshot, without_approvals
from tests.logistics.builders import IN_TRANSIT, reroute_args

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]

SERVE = [sys.executable, "-m", "supplychain.cli", "serve", "logistics", "--transport", "stdio"]
ALICE = {"SUPPLYCHAIN_TENANT": "acme", "SUPPLYCHAIN_USER": "alice@acme", "SUPPLYCHAIN_ROLES": "supply_chain_manager"}


def _env(**extra: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    return {**base, "SUPPLYCHAIN_HOME": os.environ["SUPPLYCHAIN_HOME"], **extra}


async def test_stdio_server_lists_tracks_and_leaves_a_reroute_to_the_approval_page(admin_url: str) -> None:
    """A verified reroute needs alice signed in afresh on the page: a client that cannot ask gets the page's URL."""
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=_env(**ALICE))
    before = await snapshot(admin_url, "logistics")
    async with Client(params) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        tracked = await client.call_tool("track_shipment", {"shipment_id": IN_TRANSIT})
        rerouted = await client.call_tool("reroute_shipment", reroute_args())
    assert names == ["list_carriers", "list_shipments", "track_shipment", "reroute_shipment", "get_approval"]
    assert tracked.structured_content is not None and tracked.structured_content["shipment"]["id"] == IN_TRANSIT
    assert pending_approval_id(rerouted).startswith("ap_")
    assert without_approvals(await snapshot(admin_url, "logistics")) == without_approvals(before)


async def test_stdout_carries_only_protocol_messages() -> None:
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    with anyio.fail_after(60):
        done = await anyio.run_process(
            SERVE, input=(json.dumps(request) + "\n").encode(), env=_env(**ALICE), check=False
        )
    lines = [line for line in done.stdout.decode().splitlines() if line.strip()]
    assert lines, done.stderr.decode()
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "logistics"


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, "local identity not configured: set SUPPLYCHAIN_TENANT, SUPPLYCHAIN_USER, SUPPLYCHAIN_ROLES"),
        ({**ALICE, "SUPPLYCHAIN_LOGISTICS_READONLY": "true"}, "unknown setting(s) SUPPLYCHAIN_LOGISTICS_READONLY"),
    ],
)
async def test_server_refuses_to_start_with_a_one_line_reason(env: dict[str, str], reason: str) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process(SERVE, input=b"", env=_env(**env), check=False)
    assert done.returncode == 2
    assert done.stdout == b""
    assert len(done.stderr.decode().strip().splitlines()) == 1
    assert reason in done.stderr.decode()
