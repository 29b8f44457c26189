"""Every decision on a return waits for a human, and anything but a clear yes changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from securemcp.untrusted import UNTRUSTED_NOTICE

from fixtures.returns import INJECTION_RETURN_ID
from tests.helpers import Human, admin_rows, mcp_client, pending_approval_id, snapshot, without_approvals
from tests.returns.builders import CRUSHED_BOX, WRONG_SIZE

pytestmark = pytest.mark.usefixtures("seeded")

DECISIONS = [
    ("approve_return", {"return_id": CRUSHED_BOX}),
    ("reject_return", {"return_id": CRUSHED_BOX, "reason": "duplicate_request"}),
]


async def _status(admin_url: str, rma_id: str) -> str:
    sql = "SELECT status FROM returns.return_authorisations WHERE id = :id"
    [(status,)] = await admin_rows(admin_url, sql, id=rma_id)
    return status


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("approve_return", {"return_id": CRUSHED_BOX}, "approved"),
        ("reject_return", {"return_id": CRUSHED_BOX, "reason": "duplicate_request"}, "rejected"),
    ],
)
async def test_accepted_approval_changes_the_return_in_both_protocol_eras(
    admin_url: str, mode: str, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    async with mcp_client("returns", "rita@acme", human=Human(), mode=mode) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is False
    assert await _status(admin_url, CRUSHED_BOX) == expected


@pytest.mark.parametrize(("tool", "arguments"), DECISIONS)
@pytest.mark.parametrize(
    ("action", "approve", "answer"),
    [
        ("accept", False, "declined"),
        ("decline", True, "decline"),
        ("cancel", True, "cancel"),
    ],
)
async def test_anything_but_an_approval_changes_nothing(
    admin_url: str, tool: str, arguments: dict[str, Any], action: str, approve: bool, answer: str
) -> None:
    before = await snapshot(admin_url, "returns")
    async with mcp_client("returns", "rita@acme", human=Human(action=action, approve=approve)) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    assert result.content[0].text == f"Error executing tool {tool}: {tool} was not approved ({answer}); nothing changed"
    assert await snapshot(admin_url, "returns") == before


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(("tool", "arguments"), DECISIONS)
async def test_a_client_that_cannot_ask_a_human_gets_a_pending_approval(
    admin_url: str, mode: str, tool: str, arguments: dict[str, Any]
) -> None:
    before = await snapshot(admin_url, "returns")
    async with mcp_client("returns", "rita@acme", human=None, mode=mode) as client:
        pending_approval_id(await client.call_tool(tool, arguments))
    assert without_approvals(await snapshot(admin_url, "returns")) == without_approvals(before)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("approve_return", {"return_id": WRONG_SIZE}),
        ("reject_return", {"return_id": WRONG_SIZE, "reason": "item_not_eligible"}),
    ],
)
async def test_a_decided_return_cannot_be_decided_again_and_the_human_is_not_asked(
    admin_url: str, tool: str, arguments: dict[str, Any]
) -> None:
    before = await snapshot(admin_url, "returns")
    human = Human()
    async with mcp_client("returns", "rita@acme", human=human) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    assert result.content[0].text == (
        f"Error executing tool {tool}: return {WRONG_SIZE!r} is approved, not requested; nothing changed"
    )
    assert human.questions == []
    assert await snapshot(admin_url, "returns") == before


async def test_approving_twice_is_a_conflict_the_second_time(admin_url: str) -> None:
    async with mcp_client("returns", "rita@acme", human=Human()) as client:
        first = await client.call_tool("approve_return", {"return_id": INJECTION_RETURN_ID})
        after_first = await snapshot(admin_url, "returns")
        second = await client.call_tool("approve_return", {"return_id": INJECTION_RETURN_ID})
    assert first.is_error is False
    assert second.is_error is True
    assert second.content[0].text == (
        f"Error executing tool approve_return: return {INJECTION_RETURN_ID!r} is approved, not requested; "
        "nothing changed"
    )
    assert await snapshot(admin_url, "returns") == after_first


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
