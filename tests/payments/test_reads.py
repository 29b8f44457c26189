"""What each payments read tool returns to a caller allowed to use it: exact amounts, order, filters and pages."""

from __future__ import annotations

import pytest
from securemcp.pagination import encode_cursor
from securemcp.untrusted import UNTRUSTED_NOTICE

from tests.helpers import mcp_client
from tests.payments.builders import (
    ACME_CHARGES,
    ACME_FULLY_REFUNDED,
    ACME_INJECTED,
    ACME_PARTLY_REFUNDED,
    ACME_PAYMENTS,
    ACME_PENDING,
)

pytestmark = pytest.mark.usefixtures("seeded")


async def test_get_payment_returns_exact_amount_as_a_two_decimal_string() -> None:
    async with mcp_client("payments", "fred@acme") as client:
        result = await client.call_tool("get_payment", {"payment_id": ACME_PAYMENTS[1]})
    assert result.is_error is False
    assert result.structured_content == {
        "id": ACME_PAYMENTS[1],
        "supplier": {"text": "Rotterdam Packaging BV", "notice": UNTRUSTED_NOTICE},
        "invoice_ref": "RP-88213",
        "amount": "3480.50",
        "currency": "EUR",
        "status": "pending_approval",
        "due_on": "2026-12-08",
        "created_at": "2026-11-02T09:00:00Z",
        "released_by": None,
        "released_at": None,
    }


async def test_list_payments_newest_first_and_filtered_by_status() -> None:
    async with mcp_client("payments", "ana@acme") as client:
        everything = (await client.call_tool("list_payments", {})).structured_content
        pending = (await client.call_tool("list_payments", {"status": "pending_approval"})).structured_content
    assert everything is not None and pending is not None
    assert [item["id"] for item in everything["items"]] == ACME_PAYMENTS[::-1]
    assert everything["next_cursor"] is None
    assert everything["items"][2] == {
        "id": ACME_PAYMENTS[2],
        "supplier": {"text": "Van Dijk Transport", "notice": UNTRUSTED_NOTICE},
        "invoice_ref": "VDT-5521",
        "amount": "920.00",
        "currency": "EUR",
        "status": "released",
        "due_on": "2026-12-15",
        "created_at": "2026-11-03T09:00:00Z",
        "released_by": "fred@acme",
        "released_at": "2026-11-03T13:00:00Z",
    }
    assert [item["id"] for item in pending["items"]] == [ACME_INJECTED, ACME_PAYMENTS[1], ACME_PENDING]


@pytest.mark.parametrize("tool", ["list_payments", "list_charges"])
async def test_list_tools_page_through_every_row_once(tool: str) -> None:
    seen: list[str] = []
    cursor = None
    async with mcp_client("payments", "fred@acme") as client:
        for _ in range(5):
            arguments = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.call_tool(tool, arguments)).structured_content
            assert page is not None and len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    expected = ACME_PAYMENTS if tool == "list_payments" else ACME_CHARGES
    assert seen == expected[::-1]


async def test_a_cursor_that_decodes_to_nonsense_is_refused() -> None:
    async with mcp_client("payments", "fred@acme") as client:
        result = await client.call_tool("list_payments", {"cursor": encode_cursor("yesterday", "pay_x")})
    assert result.is_error is True
    assert "malformed cursor" in result.content[0].text


async def test_get_charge_shows_refunded_total_and_what_remains_refundable() -> None:
    async with mcp_client("payments", "fred@acme") as client:
        result = await client.call_tool("get_charge", {"charge_id": ACME_PARTLY_REFUNDED})
    assert result.structured_content == {
        "id": ACME_PARTLY_REFUNDED,
        "customer": "Brouwer Bikes",
        "reference": "SO-10022",
        "amount": "1200.00",
        "refunded": "200.00",
        "refundable": "1000.00",
        "currency": "EUR",
        "created_at": "2026-11-02T11:00:00Z",
    }


async def test_list_charges_refundable_only_skips_fully_refunded_charges() -> None:
    async with mcp_client("payments", "fred@acme") as client:
        everything = (await client.call_tool("list_charges", {})).structured_content
        refundable = (await client.call_tool("list_charges", {"refundable_only": True})).structured_content
    assert everything is not None and refundable is not None
    assert [item["id"] for item in everything["items"]] == ACME_CHARGES[::-1]
    assert [item["id"] for item in refundable["items"]] == [c for c in ACME_CHARGES[::-1] if c != ACME_FULLY_REFUNDED]
    fully = next(item for item in everything["items"] if item["id"] == ACME_FULLY_REFUNDED)
    assert (fully["amount"], fully["refunded"], fully["refundable"]) == ("89.99", "89.99", "0.00")
