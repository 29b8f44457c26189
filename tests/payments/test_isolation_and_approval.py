"""Another tenant's ids look exactly like ids that do not exist; no side effect without a human's yes."""

from __future__ import annotations

import pytest
from securemcp.errors import ConflictError

from tests.helpers import (
    Human,
    admin_rows,
    decide_as,
    decider,
    mcp_client,
    pending_approval_id,
    snapshot,
    without_approvals,
)
from tests.payments.fixture_ids import (
    ACME_CHARGES,
    ACME_FAILED,
    ACME_FULLY_REFUNDED,
    ACME_PARTLY_REFUNDED,
    ACME_PAYMENTS,
    ACME_PENDING,
    ACME_RELEASED,
    GLOBEX_CHARGES,
    GLOBEX_PAYMENTS,
    UNKNOWN_CHARGE,
    UNKNOWN_PAYMENT,
)

pytestmark = pytest.mark.usefixtures("seeded")

BY_ID = [
    ("get_payment", "payment_id", ACME_PENDING, UNKNOWN_PAYMENT, {}),
    ("release_payment", "payment_id", ACME_PENDING, UNKNOWN_PAYMENT, {}),
    ("get_charge", "charge_id", ACME_PARTLY_REFUNDED, UNKNOWN_CHARGE, {}),
    ("issue_refund", "charge_id", ACME_PARTLY_REFUNDED, UNKNOWN_CHARGE, {"amount": "10.00"}),
]


@pytest.mark.parametrize(("tool", "field", "acme_id", "unknown_id", "extra"), BY_ID)
async def test_globex_using_acme_ids_gets_the_same_answer_as_for_no_such_record(
    admin_url: str, tool: str, field: str, acme_id: str, unknown_id: str, extra: dict[str, str]
) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "gwen@globex", human=human) as client:
        foreign = await client.call_tool(tool, {field: acme_id, **extra})
        missing = await client.call_tool(tool, {field: unknown_id, **extra})
    kind = "payment" if field == "payment_id" else "charge"
    assert foreign.is_error is True and missing.is_error is True
    assert foreign.content[0].text == f"Error executing tool {tool}: no {kind} '{acme_id}'"
    assert foreign.content[0].text == missing.content[0].text.replace(unknown_id, acme_id)
    assert foreign.structured_content is None and missing.structured_content is None
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before


async def test_list_tools_never_return_another_tenants_rows() -> None:
    async with mcp_client("payments", "gwen@globex") as client:
        payments = (await client.call_tool("list_payments", {"limit": 100})).structured_content
        charges = (await client.call_tool("list_charges", {"limit": 100})).structured_content
    assert payments is not None and charges is not None
    assert {item["id"] for item in payments["items"]} == set(GLOBEX_PAYMENTS)
    assert {item["id"] for item in charges["items"]} == set(GLOBEX_CHARGES)
    assert {item["currency"] for item in payments["items"] + charges["items"]} == {"USD"}
    assert not {item["id"] for item in payments["items"] + charges["items"]} & set(ACME_PAYMENTS + ACME_CHARGES)


@pytest.mark.parametrize(("action", "approve"), [("accept", False), ("decline", True), ("cancel", True)])
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("release_payment", {"payment_id": ACME_PENDING}),
        ("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "10.00"}),
    ],
)
async def test_whatever_the_requesters_client_answers_money_waits_for_four_eyes(
    admin_url: str, tool: str, arguments: dict[str, str], action: str, approve: bool
) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human(action, approve)
    async with mcp_client("payments", "fred@acme", human=human) as client:
        result = await client.call_tool(tool, arguments)
    pending_approval_id(result)
    assert human.questions == []  # a form answer can never count for four eyes, so none is asked
    assert without_approvals(await snapshot(admin_url, "payments")) == without_approvals(before)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("release_payment", {"payment_id": ACME_PENDING}),
        ("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "10.00"}),
    ],
)
async def test_a_client_that_cannot_ask_a_human_gets_a_pending_approval_and_nothing_changes(
    admin_url: str, tool: str, arguments: dict[str, str], mode: str
) -> None:
    before = await snapshot(admin_url, "payments")
    async with mcp_client("payments", "fred@acme", human=None, mode=mode) as client:
        pending_approval_id(await client.call_tool(tool, arguments))
    assert without_approvals(await snapshot(admin_url, "payments")) == without_approvals(before)


@pytest.mark.parametrize("payment_id", [ACME_RELEASED, ACME_FAILED])
async def test_only_pending_payments_can_be_released_and_nobody_is_asked(admin_url: str, payment_id: str) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "fred@acme", human=human) as client:
        result = await client.call_tool("release_payment", {"payment_id": payment_id})
    status = "released" if payment_id == ACME_RELEASED else "failed"
    assert result.is_error is True
    assert result.content[0].text == (
        f"Error executing tool release_payment: payment '{payment_id}' is {status}, not pending_approval; "
        "nothing changed"
    )
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before


async def test_releasing_twice_releases_once(admin_url: str, server_urls: dict[str, str]) -> None:
    async with mcp_client("payments", "fred@acme", human=Human()) as client:
        first = pending_approval_id(await client.call_tool("release_payment", {"payment_id": ACME_PENDING}))
        second = pending_approval_id(await client.call_tool("release_payment", {"payment_id": ACME_PENDING}))
    await decide_as(server_urls, "payments", decider("priya@acme"), first, "approve")
    before = await snapshot(admin_url, "payments")
    with pytest.raises(ConflictError, match="is released, not pending_approval; nothing changed"):
        await decide_as(server_urls, "payments", decider("priya@acme"), second, "approve")
    assert await snapshot(admin_url, "payments") == before
    assert await admin_rows(
        admin_url, "SELECT count(*) FROM payments.payments WHERE status = 'released' AND tenant_id = 'acme'"
    ) == [(2,)]


async def test_a_fully_refunded_charge_is_a_conflict_and_nobody_is_asked(admin_url: str) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "fred@acme", human=human) as client:
        result = await client.call_tool("issue_refund", {"charge_id": ACME_FULLY_REFUNDED, "amount": "0.01"})
    assert result.content[0].text == (
        f"Error executing tool issue_refund: charge '{ACME_FULLY_REFUNDED}' is fully refunded (0.00 EUR remains); "
        "nothing changed"
    )
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before


async def test_globex_finance_cannot_touch_acme_even_with_a_cooperative_human(admin_url: str) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "gwen@globex", human=human) as client:
        for charge_id in ACME_CHARGES:
            result = await client.call_tool("issue_refund", {"charge_id": charge_id, "amount": "0.01"})
            assert result.content[0].text == f"Error executing tool issue_refund: no charge '{charge_id}'"
        for payment_id in ACME_PAYMENTS:
            result = await client.call_tool("release_payment", {"payment_id": payment_id})
            assert result.content[0].text == f"Error executing tool release_payment: no payment '{payment_id}'"
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before
