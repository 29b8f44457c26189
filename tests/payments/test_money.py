"""Money is exact: amounts are Decimal to the cent, never rounded, never more than the charge allows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest
from securemcp.tenancy.database import create_engine, tenant_transaction

from servers.payments import service
from tests.helpers import Human, admin_rows, identity, mcp_client, on_the_page, snapshot
from tests.payments.builders import ACME_CHARGES, ACME_PARTLY_REFUNDED, ACME_UNREFUNDED

pytestmark = pytest.mark.usefixtures("seeded")

ACME_LARGE_CHARGE = ACME_CHARGES[3]  # 5000.00 EUR, 1250.50 refunded: 3749.50 refundable

# amount sent (JSON number or string) -> what the error says
REFUSED_AMOUNTS = [
    (-1, "Input should be greater than 0"),
    (0, "Input should be greater than 0"),
    ("0.00", "Input should be greater than 0"),
    ("-0.01", "Input should be greater than 0"),
    (1.005, "Decimal input should have no more than 2 decimal places"),
    ("1.005", "Decimal input should have no more than 2 decimal places"),
    ("0.001", "Decimal input should have no more than 2 decimal places"),
    (0.1 + 0.2, "Decimal input should have no more than 9 digits in total"),  # 0.30000000000000004
    (1_000_000.01, "Input should be less than or equal to 1000000.00"),
    ("1000001", "Input should be less than or equal to 1000000.00"),
    (10**12, "Decimal input should have no more than 9 digits in total"),
    ("ten", "amount 'ten' is not a plain decimal such as '12.50'"),
    ("12,50", "amount '12,50' is not a plain decimal such as '12.50'"),
    ("10 EUR", "amount '10 EUR' is not a plain decimal such as '12.50'"),
    ("1e2", "amount '1e2' is not a plain decimal such as '12.50'"),
    ("١٢", "amount '١٢' is not a plain decimal such as '12.50'"),
    ("NaN", "amount 'NaN' is not a plain decimal such as '12.50'"),
    ("Infinity", "amount 'Infinity' is not a plain decimal such as '12.50'"),
    ("-Infinity", "amount '-Infinity' is not a plain decimal such as '12.50'"),
    # JSON has no NaN or Infinity; the client sends null, which is not a number either.
    (float("nan"), "Decimal input should be an integer, float, string or Decimal object"),
    (float("inf"), "Decimal input should be an integer, float, string or Decimal object"),
    (None, "Decimal input should be an integer, float, string or Decimal object"),
    (True, "Decimal input should be an integer, float, string or Decimal object"),
    ({"value": "1.00"}, "Decimal input should be an integer, float, string or Decimal object"),
]


@pytest.mark.parametrize(("amount", "error"), REFUSED_AMOUNTS)
async def test_malformed_amounts_are_refused_before_anyone_is_asked(admin_url: str, amount: object, error: str) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "fred@acme", human=human) as client:
        result = await client.call_tool("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": amount})
    assert result.is_error is True
    assert result.content[0].text.startswith("Error executing tool issue_refund: 1 validation error")
    assert error in result.content[0].text
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before


# JSON numbers and strings arrive as the same exact Decimal.
@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        ("123.45", "123.45"),
        (123.45, "123.45"),
        (10.5, "10.50"),
        (7, "7.00"),
        (0.3, "0.30"),
        ("0.01", "0.01"),
        ("1000.00", "1000.00"),
        ("10.000", "10.00"),
    ],
)
async def test_numbers_and_strings_both_arrive_exactly(
    admin_url: str, server_urls: dict[str, str], amount: object, stored: str
) -> None:
    async with mcp_client("payments", "fred@acme", human=Human()) as client:
        asked = await client.call_tool("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": amount})
    result = await on_the_page(server_urls, "payments", asked)
    assert result.structured_content is not None
    assert result.structured_content["amount"] == stored
    rows = await admin_rows(
        admin_url, "SELECT amount FROM payments.refunds WHERE id = :i", i=result.structured_content["id"]
    )
    assert rows == [(Decimal(stored),)]


async def test_more_than_remains_refundable_is_refused_naming_the_remaining_amount(admin_url: str) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "fred@acme", human=human) as client:
        result = await client.call_tool("issue_refund", {"charge_id": ACME_LARGE_CHARGE, "amount": "3749.51"})
    assert result.content[0].text == (
        f"Error executing tool issue_refund: refund of 3749.51 EUR exceeds what remains refundable on charge "
        f"'{ACME_LARGE_CHARGE}': 3749.50 EUR; nothing changed"
    )
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before


async def test_partial_refunds_leave_exactly_the_rest_refundable(admin_url: str, server_urls: dict[str, str]) -> None:
    async def refund(client: Any, amount: str) -> Any:
        asked = await client.call_tool("issue_refund", {"charge_id": ACME_UNREFUNDED, "amount": amount})
        return await on_the_page(server_urls, "payments", asked)

    async with mcp_client("payments", "fred@acme", human=Human()) as client:
        first = await refund(client, "99.99")
        charge = await client.call_tool("get_charge", {"charge_id": ACME_UNREFUNDED})
        too_much = await refund(client, "150.02")
        rest = await refund(client, "150.01")
        after = await refund(client, "0.01")
    assert first.structured_content is not None and first.structured_content["charge_refundable"] == "150.01"
    assert charge.structured_content is not None
    assert (charge.structured_content["refunded"], charge.structured_content["refundable"]) == ("99.99", "150.01")
    assert too_much.content[0].text.endswith(f"on charge '{ACME_UNREFUNDED}': 150.01 EUR; nothing changed")
    assert rest.structured_content is not None
    assert (rest.structured_content["charge_refunded"], rest.structured_content["charge_refundable"]) == (
        "250.00",
        "0.00",
    )
    assert after.content[0].text.endswith("is fully refunded (0.00 EUR remains); nothing changed")
    assert await admin_rows(
        admin_url,
        "SELECT c.refunded, sum(r.amount) FROM payments.charges c JOIN payments.refunds r "
        "ON r.charge_id = c.id WHERE c.id = :i GROUP BY c.refunded",
        i=ACME_UNREFUNDED,
    ) == [(Decimal("250.00"), Decimal("250.00"))]


async def test_concurrent_refunds_cannot_together_exceed_the_charge(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    outcomes: list[str] = []

    async def refund() -> None:
        async with mcp_client("payments", "fred@acme", human=Human()) as client:
            asked = await client.call_tool("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "600.00"})
        result = await on_the_page(server_urls, "payments", asked)
        outcomes.append(result.content[0].text if result.is_error else "refunded")

    async with anyio.create_task_group() as group:
        group.start_soon(refund)
        group.start_soon(refund)
    assert sorted(outcomes) == [
        f"Error executing tool issue_refund: refund of 600.00 EUR exceeds what remains refundable on charge "
        f"'{ACME_PARTLY_REFUNDED}': 400.00 EUR; nothing changed",
        "refunded",
    ]
    assert await admin_rows(
        admin_url, "SELECT refunded FROM payments.charges WHERE id = :i", i=ACME_PARTLY_REFUNDED
    ) == [(Decimal("800.00"),)]


async def test_a_locked_charge_makes_a_second_refund_wait_and_see_the_first(server_urls: dict[str, str]) -> None:
    engine = create_engine(server_urls["payments"])
    fred = identity("fred@acme")
    second_saw: list[Decimal] = []

    async def second_refund_reads() -> None:
        async with tenant_transaction(engine, fred) as session:
            charge = await service.get_charge(
                session=session, tenant_id="acme", charge_id=ACME_PARTLY_REFUNDED, for_update=True
            )
            assert charge is not None
            second_saw.append(service.refundable(charge))

    try:
        async with anyio.create_task_group() as group, tenant_transaction(engine, fred) as session:
            charge = await service.get_charge(
                session=session, tenant_id="acme", charge_id=ACME_PARTLY_REFUNDED, for_update=True
            )
            assert charge is not None
            await service.issue_refund(session=session, charge=charge, amount=Decimal("600.00"), user_id="fred@acme")
            group.start_soon(second_refund_reads)
            await anyio.sleep(0.5)
            assert second_saw == []  # still waiting for the row lock
        assert second_saw == [Decimal("400.00")]
    finally:
        await engine.dispose()
