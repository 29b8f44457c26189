"""Phase 1 end to end: the inventory server as a real stdio subprocess, as Claude Desktop runs it."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import Human

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]

SERVE = [sys.executable, "-m", "supplychain.cli", "serve", "inventory", "--transport", "stdio"]
ALICE = {"SUPPLYCHAIN_TENANT": "acme", "SUPPLYCHAIN_USER": "alice@acme", "SUPPLYCHAIN_ROLES": "supply_chain_manager"}


def _env(**extra: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    return {**base, "SUPPLYCHAIN_HOME": os.environ["SUPPLYCHAIN_HOME"], **extra}


async def test_stdio_server_lists_reads_and_writes_with_approval(admin_url: str) -> None:
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=_env(**ALICE))
    human = Human()
    async with Client(params, elicitation_callback=human) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        stock = await client.call_tool("get_stock_level", {"sku": "TAPE-48", "warehouse": "AMS-1"})
        reorder = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 100})
    assert names == [
        "list_warehouses",
        "list_stock_levels",
        "get_stock_level",
        "list_reorders",
        "create_reorder",
        "cancel_reorder",
        "get_approval",
    ]
    assert stock.structured_content is not None and stock.structured_content["below_reorder_point"] is True
    assert reorder.structured_content is not None and reorder.structured_content["requested_by"] == "alice@acme"
    assert len(human.questions) == 1


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
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "inventory"


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, "local identity not configured: set SUPPLYCHAIN_TENANT, SUPPLYCHAIN_USER, SUPPLYCHAIN_ROLES"),
        ({**ALICE, "SUPPLYCHAIN_ROLES": "superuser"}, "unknown role 'superuser'"),
        ({**ALICE, "SUPPLYCHAIN_TENANT": "ACME;drop"}, "malformed tenant id 'ACME;drop'"),
        ({**ALICE, "SUPPLYCHAIN_INVENTORY_READONLY": "true"}, "unknown setting(s) SUPPLYCHAIN_INVENTORY_READONLY"),
        (
            {**ALICE, "SUPPLYCHAIN_INVENTORY_DATABASE_URL_FILE": "/nonexistent/dsn"},
            "no database credential for inventory",
        ),
        ({**ALICE, "SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK": "stdout"}, "stdout is the MCP channel"),
        (
            {**ALICE, "SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK": "relative/file"},
            "SINK must be 'file', 'stdout' or an absolute path",
        ),
        (
            {**ALICE, "SUPPLYCHAIN_AUDIT_CHECKPOINT_INTERVAL": "5"},
            "unknown setting(s) SUPPLYCHAIN_AUDIT_CHECKPOINT_INTERVAL",
        ),
    ],
)
async def test_server_refuses_to_start_with_a_one_line_reason(env: dict[str, str], reason: str) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process(SERVE, input=b"", env=_env(**env), check=False)
    assert done.returncode == 2
    assert done.stdout == b""
    assert len(done.stderr.decode().strip().splitlines()) == 1
    assert reason in done.stderr.decode()
