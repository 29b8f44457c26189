"""Every decision on a return waits for a human, and anything but a clear yes changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.returns import INJECTION_RETURN_ID, return_id
from tests.helpers import Human, admin_rows, mcp_client, pending_approval_id, snapshot, without_approvals

CRUSHED_BOX = return_id("acme", "crushed-box")
WRONG_SIZE = return_id("acme", "wrong-size")  # already approved in the fixtures

DECISIONS = [
    ("approve_return", {"return_id": CRUSHED_BOX}),
    ("reject_return", {"return_id": CRUSHED_BOX, "reason": "duplicate_request"}),
]

pytestmark = pytest.mark.usefixtures("seeded")


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
