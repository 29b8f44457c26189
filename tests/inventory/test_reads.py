"""What each inventory read tool returns to a caller allowed to use it: computed stock, filters and pages."""

from __future__ import annotations

import pytest

from tests.helpers import mcp_client
from tests.inventory.builders import ACME_OPEN_REORDER

pytestmark = pytest.mark.usefixtures("seeded")


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
