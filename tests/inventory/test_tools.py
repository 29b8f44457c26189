"""Inventory tools through a real in-memory MCP client against the real database."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError
from securemcp.ids import fixture_id

from tests.helpers import HOSTILE_STRINGS, Human, admin_rows, mcp_client, snapshot

pytestmark = pytest.mark.usefixtures("seeded")

ACME_OPEN_REORDER = fixture_id("ro", "acme/0")
ACME_RECEIVED_REORDER = fixture_id("ro", "acme/1")
UNKNOWN_REORDER = "ro_" + "0" * 20


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


async def test_list_stock_levels_below_reorder_point_pages_through_every_row() -> None:
    seen: list[tuple[str, str]] = []
    cursor = None
    async with mcp_client("inventory", "alice@acme") as client:
        for _ in range(10):
            arguments = {"below_reorder_point": True, "limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.call_tool("list_stock_levels", arguments)).structured_content
            assert page is not None
            seen += [(item["warehouse"], item["sku"]) for item in page["items"]]
            assert all(item["below_reorder_point"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert ("AMS-1", "TAPE-48") in seen and ("AMS-1", "BOLT-M8") not in seen
    assert {warehouse for warehouse, _ in seen} <= {"AMS-1", "RTM-2"}


async def test_get_stock_level_returns_computed_availability() -> None:
    async with mcp_client("inventory", "alice@acme") as client:
        result = await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"})
    assert result.structured_content == {
        "sku": "BOLT-M8",
        "description": "Hex bolt M8 x 40, zinc",
        "warehouse": "AMS-1",
        "on_hand": 1200,
        "reserved": 100,
        "available": 1100,
        "reorder_point": 500,
        "reorder_quantity": 2000,
        "below_reorder_point": False,
    }


async def test_list_reorders_filters_by_status() -> None:
    async with mcp_client("inventory", "ana@acme") as client:
        result = await client.call_tool("list_reorders", {"status": "open"})
    assert result.structured_content is not None
    assert [item["id"] for item in result.structured_content["items"]] == [ACME_OPEN_REORDER]


async def test_create_reorder_with_approval_writes_one_row(admin_url: str) -> None:
    human = Human()
    async with mcp_client("inventory", "alice@acme", human=human) as client:
        result = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 400})
    assert result.is_error is False
    created = result.structured_content
    assert created is not None and created["status"] == "open" and created["requested_by"] == "alice@acme"
    assert human.questions == [
        "Create a purchase reorder of 400 x TAPE-48 for warehouse AMS-1 (organisation acme, requested by "
        "alice@acme).\n\nApprove this action?"
    ]
    rows = await admin_rows(
        admin_url, "SELECT tenant_id, sku, quantity, status FROM inventory.reorders WHERE id = :i", i=created["id"]
    )
    assert rows == [("acme", "TAPE-48", 400, "open")]


async def test_create_reorder_works_for_handshake_era_clients_too(admin_url: str) -> None:
    async with mcp_client("inventory", "alice@acme", human=Human(), mode="legacy") as client:
        result = await client.call_tool("create_reorder", {"sku": "BOX-L", "warehouse": "RTM-2", "quantity": 5})
    assert result.is_error is False


@pytest.mark.parametrize(("action", "approve"), [("accept", False), ("decline", True), ("cancel", True)])
async def test_create_reorder_not_approved_changes_nothing(admin_url: str, action: str, approve: bool) -> None:
    before = await snapshot(admin_url, "inventory")
    async with mcp_client("inventory", "alice@acme", human=Human(action, approve)) as client:
        result = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 400})
    assert result.is_error is True
    answer = "declined" if action == "accept" else action
    assert result.content[0].text.endswith(f"create_reorder was not approved ({answer}); nothing changed")
    assert await snapshot(admin_url, "inventory") == before


async def test_client_that_cannot_be_asked_gets_a_pending_approval_and_nothing_changes(admin_url: str) -> None:
    before = await snapshot(admin_url, "inventory")
    async with mcp_client("inventory", "alice@acme", human=None) as client:
        result = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 1})
    assert result.is_error is False and result.structured_content is not None
    assert result.structured_content["status"] == "pending"
    assert result.structured_content["approval_id"].startswith("ap_")
    assert f"Decide it at {result.structured_content['url']} " in result.content[0].text
    after = await snapshot(admin_url, "inventory")
    assert len(after.pop("pending_approvals")) == len(before.pop("pending_approvals")) + 1
    assert after == before


async def test_cancel_reorder_with_approval(admin_url: str) -> None:
    human = Human()
    async with mcp_client("inventory", "alice@acme", human=human) as client:
        result = await client.call_tool("cancel_reorder", {"reorder_id": ACME_OPEN_REORDER})
    assert result.structured_content is not None and result.structured_content["status"] == "cancelled"
    assert ACME_OPEN_REORDER in human.questions[0] and "organisation acme" in human.questions[0]
    rows = await admin_rows(
        admin_url, "SELECT status, cancelled_by FROM inventory.reorders WHERE id = :i", i=ACME_OPEN_REORDER
    )
    assert rows == [("cancelled", "alice@acme")]


async def test_cancel_reorder_that_is_not_open_is_a_conflict_asked_of_nobody(admin_url: str) -> None:
    human = Human()
    before = await snapshot(admin_url, "inventory")
    async with mcp_client("inventory", "alice@acme", human=human) as client:
        result = await client.call_tool("cancel_reorder", {"reorder_id": ACME_RECEIVED_REORDER})
    assert result.is_error is True
    assert f"reorder '{ACME_RECEIVED_REORDER}' is received, not open; nothing changed" in result.content[0].text
    assert human.questions == []
    assert await snapshot(admin_url, "inventory") == before


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
