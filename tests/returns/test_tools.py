"""The returns tools as a model sees them: listings, reads, decisions and the untrusted customer note."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from mcp import Client
from securemcp.untrusted import UNTRUSTED_NOTICE

from fixtures.returns import INJECTION_NOTE, INJECTION_RETURN_ID, RETURNS, return_id
from tests.helpers import Human, admin_rows, mcp_client, snapshot

CRUSHED_BOX = return_id("acme", "crushed-box")

READ = {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True, "open_world_hint": False}
DECIDE = {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": True, "open_world_hint": False}

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


async def test_tools_list_shows_every_returns_tool_with_truthful_annotations() -> None:
    async with mcp_client("returns", "rita@acme") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == ["approve_return", "get_approval", "get_return", "list_returns", "reject_return"]
    for name, expected in [
        ("list_returns", READ),
        ("get_return", READ),
        ("get_approval", READ),
        ("approve_return", DECIDE),
        ("reject_return", DECIDE),
    ]:
        assert tools[name].annotations.model_dump(exclude_none=True, exclude={"title"}) == expected
        assert tools[name].input_schema["additionalProperties"] is False
    # The approval and the caller are injected: the model cannot see or fill them.
    assert sorted(tools["reject_return"].input_schema["properties"]) == ["idempotency_key", "reason", "return_id"]
    assert sorted(tools["approve_return"].input_schema["properties"]) == ["idempotency_key", "return_id"]


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


async def test_approve_return_records_who_decided_and_when(admin_url: str) -> None:
    human = Human()
    async with mcp_client("returns", "rita@acme", human=human) as client:
        result = await client.call_tool("approve_return", {"return_id": CRUSHED_BOX})
    assert result.is_error is False
    decided_at = result.structured_content.pop("decided_at")
    assert result.structured_content == {
        "id": CRUSHED_BOX,
        "order_reference": "SO-10022",
        "sku": "BRKT-90",
        "quantity": 2,
        "status": "approved",
        "requested_at": "2026-11-02T10:00:00Z",
        "customer_note": {"text": "The box arrived crushed and two brackets are bent.", "notice": UNTRUSTED_NOTICE},
        "decided_by": "rita@acme",
        "rejection_reason": None,
    }
    rows = await admin_rows(
        admin_url,
        "SELECT status, decided_by, decided_at, rejection_reason FROM returns.return_authorisations WHERE id = :id",
        id=CRUSHED_BOX,
    )
    assert rows == [("approved", "rita@acme", datetime.fromisoformat(decided_at), None)]
    assert human.questions == [
        f"Approve return {CRUSHED_BOX}: 2 x BRKT-90 from order SO-10022 (organisation acme, decided by rita@acme)."
        "\n\nApprove this action?"
    ]


async def test_reject_return_records_the_reason(admin_url: str) -> None:
    human = Human()
    async with mcp_client("returns", "rita@acme", human=human) as client:
        result = await client.call_tool("reject_return", {"return_id": CRUSHED_BOX, "reason": "damaged_by_customer"})
    assert result.is_error is False
    assert result.structured_content["status"] == "rejected"
    assert result.structured_content["rejection_reason"] == "damaged_by_customer"
    assert result.structured_content["decided_by"] == "rita@acme"
    rows = await admin_rows(
        admin_url,
        "SELECT status, decided_by, rejection_reason FROM returns.return_authorisations WHERE id = :id",
        id=CRUSHED_BOX,
    )
    assert rows == [("rejected", "rita@acme", "damaged_by_customer")]
    assert human.questions == [
        f"Reject return {CRUSHED_BOX}: 2 x BRKT-90 from order SO-10022 (organisation acme, decided by rita@acme). "
        "Reason: damaged_by_customer.\n\nApprove this action?"
    ]


async def test_approval_question_for_the_injection_return_never_quotes_the_note() -> None:
    human = Human(action="decline")
    async with mcp_client("returns", "rita@acme", human=human) as client:
        await client.call_tool("approve_return", {"return_id": INJECTION_RETURN_ID})
        await client.call_tool("reject_return", {"return_id": INJECTION_RETURN_ID, "reason": "item_not_eligible"})
    assert human.questions == [
        f"Approve return {INJECTION_RETURN_ID}: 24 x GLOVE-L from order SO-10024 "
        "(organisation acme, decided by rita@acme).\n\nApprove this action?",
        f"Reject return {INJECTION_RETURN_ID}: 24 x GLOVE-L from order SO-10024 "
        "(organisation acme, decided by rita@acme). Reason: item_not_eligible.\n\nApprove this action?",
    ]
