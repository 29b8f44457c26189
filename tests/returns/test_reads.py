"""What each returns read tool gives a caller allowed to use it: listings newest first, filters, pages, full records."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from securemcp.untrusted import UNTRUSTED_NOTICE

from fixtures.returns import INJECTION_NOTE, INJECTION_RETURN_ID, RETURNS, return_id
from tests.helpers import Human, mcp_client, snapshot
from tests.returns.builders import CRUSHED_BOX

pytestmark = pytest.mark.usefixtures("seeded")


def _ids(tenant: str, *statuses: str) -> list[str]:
    """The tenant's fixture return ids, newest first (the fixtures request them an hour apart)."""
    rows = [(name, status) for name, _, _, _, status, _, _ in RETURNS[tenant] if not statuses or status in statuses]
    return [return_id(tenant, name) for name, _ in reversed(rows)]


async def _all_pages(client: Client, **arguments: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        result = await client.call_tool("list_returns", {**arguments, **({"cursor": cursor} if cursor else {})})
        assert result.is_error is False
        items += result.structured_content["items"]
        cursor = result.structured_content["next_cursor"]
        if cursor is None:
            return items


async def test_list_returns_pages_through_the_tenants_returns_newest_first() -> None:
    async with mcp_client("returns", "rita@acme") as client:
        first = await client.call_tool("list_returns", {"limit": 2})
        items = await _all_pages(client, limit=2)
    assert first.structured_content["items"] == [
        {
            "id": return_id("acme", "torn-gloves"),
            "order_reference": "SO-10024",
            "sku": "GLOVE-L",
            "quantity": 4,
            "status": "refunded",
            "requested_at": "2026-11-02T15:00:00Z",
            "has_customer_note": True,
        },
        {
            "id": return_id("acme", "surplus-bolts"),
            "order_reference": "SO-10022",
            "sku": "BOLT-M8",
            "quantity": 100,
            "status": "received",
            "requested_at": "2026-11-02T14:00:00Z",
            "has_customer_note": False,
        },
    ]
    assert first.structured_content["next_cursor"] is not None
    assert [item["id"] for item in items] == _ids("acme")


async def test_list_returns_filters_by_status() -> None:
    async with mcp_client("returns", "alice@acme") as client:
        items = await _all_pages(client, status="requested", limit=1)
    assert [item["id"] for item in items] == _ids("acme", "requested") == [INJECTION_RETURN_ID, CRUSHED_BOX]


async def test_list_returns_never_carries_customer_text() -> None:
    async with mcp_client("returns", "rita@acme") as client:
        result = await client.call_tool("list_returns", {"limit": 100})
    assert "IGNORE ALL PREVIOUS INSTRUCTIONS" not in result.content[0].text
    assert all("customer_note" not in item for item in result.structured_content["items"])


async def test_get_return_returns_the_full_record() -> None:
    async with mcp_client("returns", "fred@acme") as client:
        result = await client.call_tool("get_return", {"return_id": return_id("acme", "late-claim")})
    assert result.is_error is False
    assert result.structured_content == {
        "id": return_id("acme", "late-claim"),
        "order_reference": "SO-10021",
        "sku": "BOX-M",
        "quantity": 50,
        "status": "rejected",
        "requested_at": "2026-11-02T13:00:00Z",
        "customer_note": None,
        "decided_by": "rita@acme",
        "decided_at": "2026-11-02T15:00:00Z",
        "rejection_reason": "outside_return_window",
    }


async def test_get_return_marks_the_injection_note_untrusted_and_changes_nothing(admin_url: str) -> None:
    before = await snapshot(admin_url, "returns")
    async with mcp_client("returns", "rita@acme", human=Human()) as client:
        result = await client.call_tool("get_return", {"return_id": INJECTION_RETURN_ID})
    assert result.is_error is False
    # Kept verbatim (nothing silently stripped), but only inside the untrusted marker.
    assert result.structured_content["customer_note"] == {"text": INJECTION_NOTE, "notice": UNTRUSTED_NOTICE}
    assert result.structured_content["status"] == "requested"
    assert await snapshot(admin_url, "returns") == before
