"""Both protocol eras over HTTP with a bearer token, for the `mcp` Client and the `fastmcp` Client,
each including one approval round trip (the human answers through the client's elicitation hook).
"""

from __future__ import annotations

import pytest

from tests.helpers import Human, admin_rows
from tests.http.clients import FastMCPHuman, fastmcp_client, mcp_client
from tests.http.stack import Stack
from tests.http.tokens import flow_token

pytestmark = pytest.mark.usefixtures("seeded")

MODES = {"legacy": "2025-11-25", "auto": "2026-07-28"}


async def open_reorders(admin_url: str, sku: str) -> list[tuple[object, ...]]:
    return [
        tuple(row)
        for row in await admin_rows(
            admin_url,
            "SELECT tenant_id, quantity, requested_by FROM inventory.reorders WHERE sku = :sku AND status = 'open'",
            sku=sku,
        )
    ]


@pytest.mark.parametrize("mode", list(MODES))
async def test_mcp_client_reads_and_reorders_with_approval(mode: str, stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    token = (await flow_token(stack.idp, user="alice@acme", server="inventory"))["access_token"]
    human = Human()
    async with mcp_client(inventory.url, token, mode=mode, human=human) as client:
        assert client.session.protocol_version == MODES[mode]
        stock = await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "RTM-2"})
        created = await client.call_tool("create_reorder", {"sku": "NUT-M8", "warehouse": "AMS-1", "quantity": 7})
    assert stock.structured_content is not None and stock.structured_content["on_hand"] == 1225
    assert not created.is_error, created
    assert human.questions == [
        "Create a purchase reorder of 7 x NUT-M8 for warehouse AMS-1 (organisation acme, requested by alice@acme)."
        "\n\nApprove this action?"
    ]
    assert await open_reorders(admin_url, "NUT-M8") == [("acme", 7, "alice@acme")]


@pytest.mark.parametrize("mode", list(MODES))
async def test_fastmcp_client_reads_and_reorders_with_approval(mode: str, stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    token = (await flow_token(stack.idp, user="bob@globex", server="inventory"))["access_token"]
    human = FastMCPHuman()
    async with fastmcp_client(inventory.url, token, mode=mode, human=human) as client:
        assert client.session.protocol_version == MODES[mode]
        names = sorted(tool.name for tool in await client.list_tools())
        stock = await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "CHI-1"})
        created = await client.call_tool("create_reorder", {"sku": "NUT-M8", "warehouse": "DAL-1", "quantity": 9})
    assert "create_reorder" in names
    assert stock.structured_content is not None and stock.structured_content["on_hand"] == 1200
    assert not created.is_error, created
    assert human.questions == [
        "Create a purchase reorder of 9 x NUT-M8 for warehouse DAL-1 (organisation globex, requested by bob@globex)."
        "\n\nApprove this action?"
    ]
    assert await open_reorders(admin_url, "NUT-M8") == [("globex", 9, "bob@globex")]


async def test_a_declined_approval_over_http_changes_nothing(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    token = (await flow_token(stack.idp, user="alice@acme", server="inventory"))["access_token"]
    async with mcp_client(inventory.url, token, human=Human(action="decline")) as client:
        declined = await client.call_tool("create_reorder", {"sku": "NUT-M8", "warehouse": "AMS-1", "quantity": 7})
    assert declined.is_error
    assert await open_reorders(admin_url, "NUT-M8") == []
