"""Phase 1 end to end: the returns server as a real stdio subprocess, as Claude Desktop runs it."""

from __future__ import annotations

import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import Human, admin_rows, local_identity, serve_command, stdio_env
from tests.returns.builders import CRUSHED_BOX

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]

SERVE = serve_command("returns")
RITA = local_identity("rita@acme")


async def test_stdio_server_lists_reads_and_decides_with_approval(admin_url: str) -> None:
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=stdio_env(**RITA))
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
