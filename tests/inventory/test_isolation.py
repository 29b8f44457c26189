"""What the inventory server refuses: other tenants' rows, missing scopes, writes in read-only mode, hostile
input, unknown arguments."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError

from tests.helpers import HOSTILE_STRINGS, Human, mcp_client, snapshot
from tests.inventory.builders import ACME_OPEN_REORDER, UNKNOWN_REORDER

pytestmark = pytest.mark.usefixtures("seeded")


async def test_list_warehouses_shows_only_the_callers_tenant() -> None:
    async with mcp_client("inventory", "alice@acme") as client:
        result = await client.call_tool("list_warehouses", {})
    assert result.structured_content == {
        "items": [
            {"code": "AMS-1", "name": "Amsterdam Central", "city": "Amsterdam"},
            {"code": "RTM-2", "name": "Rotterdam Port", "city": "Rotterdam"},
        ],
        "next_cursor": None,
    }


async def test_globex_cannot_cancel_acme_reorder_and_sees_the_same_answer_as_for_no_reorder(admin_url: str) -> None:
    before = await snapshot(admin_url, "inventory")
    human = Human()
    async with mcp_client("inventory", "bob@globex", human=human) as client:
        foreign = await client.call_tool("cancel_reorder", {"reorder_id": ACME_OPEN_REORDER})
        missing = await client.call_tool("cancel_reorder", {"reorder_id": UNKNOWN_REORDER})
    assert foreign.is_error is True and missing.is_error is True
    assert foreign.content[0].text == missing.content[0].text.replace(UNKNOWN_REORDER, ACME_OPEN_REORDER)
    assert foreign.content[0].text.endswith(f"no reorder '{ACME_OPEN_REORDER}'")
    assert human.questions == []
    assert await snapshot(admin_url, "inventory") == before


async def test_globex_cannot_read_or_reorder_acme_stock_by_warehouse_code(admin_url: str) -> None:
    before = await snapshot(admin_url, "inventory")
    async with mcp_client("inventory", "bob@globex", human=Human()) as client:
        read = await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"})
        write = await client.call_tool("create_reorder", {"sku": "BOLT-M8", "warehouse": "AMS-1", "quantity": 1})
        listed = await client.call_tool("list_stock_levels", {"warehouse": "AMS-1"})
    assert read.is_error is True and read.content[0].text.endswith("no stock level 'BOLT-M8 in AMS-1'")
    assert write.is_error is True and write.content[0].text.endswith("no stock level 'BOLT-M8 in AMS-1'")
    assert listed.structured_content == {"items": [], "next_cursor": None}
    assert await snapshot(admin_url, "inventory") == before


async def test_list_tools_never_return_another_tenants_rows() -> None:
    async with mcp_client("inventory", "bob@globex") as client:
        stock = (await client.call_tool("list_stock_levels", {"limit": 100})).structured_content
        reorders = (await client.call_tool("list_reorders", {"limit": 100})).structured_content
    assert stock is not None and reorders is not None
    assert {item["warehouse"] for item in stock["items"]} == {"CHI-1", "DAL-1"}
    assert {item["warehouse"] for item in reorders["items"]} == {"CHI-1"}


async def test_missing_scope_is_refused_naming_the_scope(admin_url: str) -> None:
    before = await snapshot(admin_url, "inventory")
    async with mcp_client("inventory", "ana@acme", human=Human()) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        with pytest.raises(MCPError, match="insufficient_scope: create_reorder requires scope 'inventory:reorder'"):
            await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 1})
    assert names == ["list_warehouses", "list_stock_levels", "get_stock_level", "list_reorders", "get_approval"]
    async with mcp_client("inventory", "fred@acme") as client:
        assert (await client.list_tools()).tools == []
        with pytest.raises(MCPError, match="requires scope 'inventory:read'"):
            await client.call_tool("list_warehouses", {})
    assert await snapshot(admin_url, "inventory") == before


async def test_read_only_mode_hides_and_refuses_writes_even_for_a_manager() -> None:
    async with mcp_client("inventory", "alice@acme", human=Human(), read_only=True) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        refused = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 1})
    assert "create_reorder" not in names and "list_warehouses" in names
    assert refused.is_error is True
    assert refused.content[0].text == "create_reorder is not available: this server runs read-only"


async def test_unknown_arguments_are_refused_not_ignored() -> None:
    async with mcp_client("inventory", "bob@globex") as client:
        result = await client.call_tool(
            "get_stock_level", {"sku": "BOLT-M8", "warehouse": "CHI-1", "tenant_id": "acme"}
        )
    assert result.is_error is True
    assert result.content[0].text == "unknown argument(s) for get_stock_level: 'tenant_id'"


STRING_ARGUMENTS = [
    ("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"}, "sku"),
    ("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"}, "warehouse"),
    ("list_stock_levels", {}, "warehouse"),
    ("list_stock_levels", {}, "cursor"),
    ("list_warehouses", {}, "cursor"),
    ("list_reorders", {}, "status"),
    ("list_reorders", {}, "cursor"),
    ("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 1}, "sku"),
    ("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 1}, "warehouse"),
    ("cancel_reorder", {"reorder_id": ACME_OPEN_REORDER}, "reorder_id"),
]


@pytest.mark.parametrize(("tool", "valid", "field"), STRING_ARGUMENTS)
async def test_hostile_strings_in_every_string_argument_change_nothing(
    admin_url: str, tool: str, valid: dict[str, object], field: str
) -> None:
    before = await snapshot(admin_url, "inventory")
    human = Human()
    async with mcp_client("inventory", "alice@acme", human=human) as client:
        for hostile in HOSTILE_STRINGS:
            result = await client.call_tool(tool, {**valid, field: hostile})
            assert result.is_error is True, (tool, field, hostile[:40])
            assert "Traceback" not in result.content[0].text
    assert human.questions == []
    assert await snapshot(admin_url, "inventory") == before


@pytest.mark.parametrize("quantity", [0, -1, 10_001, 2**63, 1.5, "ten", None])
async def test_out_of_range_quantities_are_refused(admin_url: str, quantity: object) -> None:
    before = await snapshot(admin_url, "inventory")
    async with mcp_client("inventory", "alice@acme", human=Human()) as client:
        result = await client.call_tool(
            "create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": quantity}
        )
    assert result.is_error is True
    assert await snapshot(admin_url, "inventory") == before
