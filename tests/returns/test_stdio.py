"""Phase 1 end to end: the returns server as a real stdio subprocess, as Claude Desktop runs it."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import Human, admin_rows
from tests.returns.builders import CRUSHED_BOX

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]

SERVE = [sys.executable, "-m", "supplychain.cli", "serve", "returns", "--transport", "stdio"]
RITA = {"SUPPLYCHAIN_TENANT": "acme", "SUPPLYCHAIN_USER": "rita@acme", "SUPPLYCHAIN_ROLES": "returns_agent"}


def _env(**extra: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    return {**base, "SUPPLYCHAIN_HOME": os.environ["SUPPLYCHAIN_HOME"], **extra}


async def test_stdio_server_lists_reads_and_decides_with_approval(admin_url: str) -> None:
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=_env(**RITA))
    human = Human()
    async with Client(params, elicitation_callback=human) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        listed = await client.call_tool("list_returns", {"status": "requested"})
        approved = await client.call_tool("approve_return", {"return_id": CRUSHED_BOX})
    assert names == ["list_returns", "get_return", "approve_return", "reject_return", "get_approval"]
    assert listed.structured_content is not None
    assert CRUSHED_BOX in [item["id"] for item in listed.structured_content["items"]]
    assert approved.structured_content is not None and approved.structured_content["decided_by"] == "rita@acme"
    assert len(human.questions) == 1
    sql = "SELECT status FROM returns.return_authorisations WHERE id = :i"
    assert await admin_rows(admin_url, sql, i=CRUSHED_BOX) == [("approved",)]


async def test_stdout_carries_only_protocol_messages() -> None:
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    with anyio.fail_after(60):
        done = await anyio.run_process(
            SERVE, input=(json.dumps(request) + "\n").encode(), env=_env(**RITA), check=False
        )
    lines = [line for line in done.stdout.decode().splitlines() if line.strip()]
    assert lines, done.stderr.decode()
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "returns"


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, "local identity not configured: set SUPPLYCHAIN_TENANT, SUPPLYCHAIN_USER, SUPPLYCHAIN_ROLES"),
        ({**RITA, "SUPPLYCHAIN_RETURNS_READONLY": "true"}, "unknown setting(s) SUPPLYCHAIN_RETURNS_READONLY"),
    ],
)
async def test_server_refuses_to_start_with_a_one_line_reason(env: dict[str, str], reason: str) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process(SERVE, input=b"", env=_env(**env), check=False)
    assert done.returncode == 2
    assert done.stdout == b""
    assert len(done.stderr.decode().strip().splitlines()) == 1
    assert reason in done.stderr.decode()
