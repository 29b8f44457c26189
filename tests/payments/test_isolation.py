"""What the payments server refuses: another tenant's ids (answered as if they did not exist), missing scopes,
writes in read-only mode, hostile input, unknown arguments."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError

from tests.helpers import HOSTILE_STRINGS, Human, mcp_client, snapshot
from tests.payments.builders import (
    ACME_CHARGES,
    ACME_PARTLY_REFUNDED,
    ACME_PAYMENTS,
    ACME_PENDING,
    GLOBEX_CHARGES,
    GLOBEX_PAYMENTS,
    READ_TOOLS,
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


async def test_tool_annotations_are_truthful_and_amounts_are_typed_as_strings() -> None:
    async with mcp_client("payments", "fred@acme") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert list(tools) == [*READ_TOOLS, "release_payment", "issue_refund", "get_approval"]
    hints = {
        name: (
            t.annotations.read_only_hint,
            t.annotations.destructive_hint,
            t.annotations.idempotent_hint,
            t.annotations.open_world_hint,
        )
        for name, t in tools.items()
        if t.annotations is not None
    }
    assert hints == {
        **{name: (True, False, True, False) for name in READ_TOOLS},
        "release_payment": (False, True, True, False),
        "issue_refund": (False, True, False, False),
        "get_approval": (True, False, True, False),
    }
    amount = tools["get_payment"].output_schema["properties"]["amount"]  # type: ignore[index]
    assert (amount["type"], amount["pattern"]) == ("string", r"^[0-9]+\.[0-9]{2}$")
    assert "approval" not in tools["issue_refund"].input_schema["properties"]
    assert tools["issue_refund"].input_schema["additionalProperties"] is False


async def test_a_role_without_payments_scopes_sees_no_tools_and_is_refused(admin_url: str) -> None:
    before = await snapshot(admin_url, "payments")
    async with mcp_client("payments", "alice@acme", human=Human()) as client:
        assert (await client.list_tools()).tools == []
        with pytest.raises(MCPError, match="insufficient_scope: list_payments requires scope 'payments:read'"):
            await client.call_tool("list_payments", {})
        with pytest.raises(MCPError, match="requires scope 'payments:read'"):
            await client.call_tool("get_charge", {"charge_id": ACME_PARTLY_REFUNDED})
    assert await snapshot(admin_url, "payments") == before


async def test_an_analyst_reads_but_cannot_release_or_refund(admin_url: str) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "ana@acme", human=human) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        with pytest.raises(MCPError, match="insufficient_scope: release_payment requires scope 'payments:release'"):
            await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
        with pytest.raises(MCPError, match="insufficient_scope: issue_refund requires scope 'payments:refund'"):
            await client.call_tool("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "1.00"})
    assert names == [*READ_TOOLS, "get_approval"]
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before


async def test_read_only_mode_hides_and_refuses_writes_even_for_finance() -> None:
    async with mcp_client("payments", "fred@acme", human=Human(), read_only=True) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        refused = await client.call_tool("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "1.00"})
    assert names == [*READ_TOOLS, "get_approval"]
    assert refused.is_error is True
    assert refused.content[0].text == "issue_refund is not available: this server runs read-only"


@pytest.mark.parametrize(
    ("tool", "arguments", "unknown"),
    [
        ("get_payment", {"payment_id": ACME_PENDING, "tenant_id": "globex"}, "'tenant_id'"),
        ("list_charges", {"tenant_id": "globex"}, "'tenant_id'"),
        # Approval comes from the human through the client; an argument cannot stand in for it.
        (
            "issue_refund",
            {"charge_id": ACME_PARTLY_REFUNDED, "amount": "1.00", "approval": {"approve": True}},
            "'approval'",
        ),
        ("release_payment", {"payment_id": ACME_PENDING, "confirm": True, "user_id": "x"}, "'confirm', 'user_id'"),
    ],
)
async def test_unknown_arguments_are_refused_not_ignored(
    admin_url: str, tool: str, arguments: dict[str, object], unknown: str
) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "fred@acme", human=human) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    assert result.content[0].text == f"unknown argument(s) for {tool}: {unknown}"
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before


STRING_ARGUMENTS = [
    ("list_payments", {}, "status"),
    ("list_payments", {}, "cursor"),
    ("get_payment", {"payment_id": ACME_PENDING}, "payment_id"),
    ("list_charges", {}, "cursor"),
    ("get_charge", {"charge_id": ACME_PARTLY_REFUNDED}, "charge_id"),
    ("release_payment", {"payment_id": ACME_PENDING}, "payment_id"),
    ("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "1.00"}, "charge_id"),
    ("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "1.00"}, "amount"),
]


@pytest.mark.parametrize(("tool", "valid", "field"), STRING_ARGUMENTS)
async def test_hostile_strings_in_every_string_argument_change_nothing(
    admin_url: str, tool: str, valid: dict[str, object], field: str
) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client("payments", "fred@acme", human=human) as client:
        for hostile in HOSTILE_STRINGS:
            result = await client.call_tool(tool, {**valid, field: hostile})
            assert result.is_error is True, (tool, field, hostile[:40])
            assert "Traceback" not in result.content[0].text
        # The server still serves the same caller afterwards.
        assert (await client.call_tool("get_payment", {"payment_id": ACME_PENDING})).is_error is False
    assert human.questions == []
    assert await snapshot(admin_url, "payments") == before
