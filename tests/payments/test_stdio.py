"""Phase 1 end to end: the payments server as a real stdio subprocess, as Claude Desktop runs it."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import Human, pending_approval_id, snapshot, without_approvals
from tests.payments.builders import ACME_PENDING, READ_TOOLS

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]

SERVE = [sys.executable, "-m", "supplychain.cli", "serve", "payments", "--transport", "stdio"]
FRED = {"SUPPLYCHAIN_TENANT": "acme", "SUPPLYCHAIN_USER": "fred@acme", "SUPPLYCHAIN_ROLES": "finance"}


def _env(**extra: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    return {**base, "SUPPLYCHAIN_HOME": os.environ["SUPPLYCHAIN_HOME"], **extra}


async def test_stdio_server_lists_reads_and_leaves_a_release_to_another_person(admin_url: str) -> None:
    """Four eyes: fred's own client is never asked; the release waits for another person on the page."""
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=_env(**FRED))
    human = Human()
    before = await snapshot(admin_url, "payments")
    async with Client(params, elicitation_callback=human) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        payment = await client.call_tool("get_payment", {"payment_id": ACME_PENDING})
        released = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    assert names == [*READ_TOOLS, "release_payment", "issue_refund", "get_approval"]
    assert payment.structured_content is not None and payment.structured_content["status"] == "pending_approval"
    assert pending_approval_id(released).startswith("ap_")
    assert human.questions == []
    assert without_approvals(await snapshot(admin_url, "payments")) == without_approvals(before)


async def test_stdout_carries_only_protocol_messages() -> None:
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    with anyio.fail_after(60):
        done = await anyio.run_process(
            SERVE, input=(json.dumps(request) + "\n").encode(), env=_env(**FRED), check=False
        )
    lines = [line for line in done.stdout.decode().splitlines() if line.strip()]
    assert lines, done.stderr.decode()
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "payments"


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, "local identity not configured: set SUPPLYCHAIN_TENANT, SUPPLYCHAIN_USER, SUPPLYCHAIN_ROLES"),
        ({**FRED, "SUPPLYCHAIN_PAYMENTS_READONLY": "true"}, "unknown setting(s) SUPPLYCHAIN_PAYMENTS_READONLY"),
    ],
)
async def test_server_refuses_to_start_with_a_one_line_reason(env: dict[str, str], reason: str) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process(SERVE, input=b"", env=_env(**env), check=False)
    assert done.returncode == 2
    assert done.stdout == b""
    assert len(done.stderr.decode().strip().splitlines()) == 1
    assert reason in done.stderr.decode()
