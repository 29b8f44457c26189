"""Interoperability: the independent `fastmcp` client lists and calls tools on our server."""

from __future__ import annotations

import pytest
from fastmcp import Client as FastMCPClient

from supplychain.servers import load_settings, server_for
from tests.helpers import identity

pytestmark = pytest.mark.usefixtures("seeded")


async def test_fastmcp_client_lists_and_calls_inventory_tools() -> None:
    server = server_for(load_settings("inventory"), local_identity=identity("ana@acme"))
    async with FastMCPClient(server) as client:
        names = sorted(tool.name for tool in await client.list_tools())
        result = await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "RTM-2"})
    assert names == ["get_approval", "get_stock_level", "list_reorders", "list_stock_levels", "list_warehouses"]
    assert result.structured_content is not None
    assert result.structured_content["on_hand"] == 1225
