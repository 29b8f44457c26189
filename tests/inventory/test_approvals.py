"""The human approval gate on create_reorder and cancel_reorder: what is asked, and that only a yes changes anything."""

from __future__ import annotations

import pytest

from tests.helpers import Human, admin_rows, mcp_client, snapshot
from tests.inventory.builders import ACME_OPEN_REORDER, ACME_RECEIVED_REORDER

pytestmark = pytest.mark.usefixtures("seeded")


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
