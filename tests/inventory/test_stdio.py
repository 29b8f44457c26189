"""Phase 1 end to end: the inventory server as a real stdio subprocess, as Claude Desktop runs it."""

from __future__ import annotations

import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import Human, local_identity, serve_command, stdio_env

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]

SERVE = serve_command("inventory")
ALICE = local_identity("alice@acme")


async def test_stdio_server_lists_reads_and_writes_with_approval(admin_url: str) -> None:
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=stdio_env(**ALICE))
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
