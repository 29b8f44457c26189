"""Approval levels: declared per side effect, raised by a rule or a deployment setting, never lowered;
`register_tools` refuses a table that would let a side effect or a decision slip through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from mcp.server.mcpserver import ElicitationResult, MCPServer, Resolve
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ValidationError
from securemcp.approvals.answer import ConfirmAnswer
from securemcp.approvals.pending import Question
from securemcp.gate.side_effects import SideEffect
from securemcp.gate.tool_table import ReadTool, ToolTable, register_tools
from securemcp.identity.principal import Identity
from sqlmodel.ext.asyncio.session import AsyncSession

from servers.inventory.tools import LARGE_REORDER
from supplychain.servers import load_settings, server_for
from tests.helpers import Human, admin_rows, identity, mcp_client, pending_approval_id, snapshot, without_approvals

pytestmark = pytest.mark.usefixtures("seeded")

WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


@dataclass(frozen=True)
class Something:
    """Write something (a side effect for the refusal tests)."""

    what: str


class Written(BaseModel):
    what: str


def _question(something: Something, who: Identity) -> Question:
    return Question(f"Write {something.what} as {who.user_id}.")


async def _write(who: Identity, session: AsyncSession, something: Something) -> Written:
    return Written(what=something.what)


def write_something(scope: str = "x:write", annotations: ToolAnnotations = WRITE) -> SideEffect[Something, Something]:
    return SideEffect(
        name="write_something", title="W", scope=scope, arguments=Something, level="confirm", question=_question,
        effect=_write, annotations=annotations,
    )  # fmt: skip


async def read_something() -> str:
    """A read for the refusal tests."""
    return "read"


async def asks_something(approval: Annotated[ElicitationResult[ConfirmAnswer], Resolve(read_something)]) -> str:
    """A read that asks for approval: a side effect in disguise."""
    return "read"


async def _level_of(admin_url: str, approval_id: str) -> str:
    [(level,)] = await admin_rows(
        admin_url, "SELECT level FROM inventory.pending_approvals WHERE id = :i", i=approval_id
    )
    return str(level)


async def test_a_confirm_reorder_is_asked_in_band_as_before(admin_url: str) -> None:
    human = Human()
    async with mcp_client("inventory", "alice@acme", human=human) as client:
        result = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 5})
    assert result.is_error is False and human.questions == [
        "Create a purchase reorder of 5 x TAPE-48 for warehouse AMS-1 (organisation acme, requested by alice@acme)."
        "\n\nApprove this action?"
    ]


# The rule reads the validated arguments: pydantic turns "5001" or 5001.0 into 5001 first, so each form is verified.
@pytest.mark.parametrize("quantity", [LARGE_REORDER + 1, str(LARGE_REORDER + 1), float(LARGE_REORDER + 1)])
async def test_an_argument_rule_raises_a_large_reorder_to_verified(
    admin_url: str, quantity: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_APPROVAL_WAIT_SECONDS", "1")  # nobody opens the page: don't wait 5 minutes for it
    before = await snapshot(admin_url, "inventory")
    human = Human()  # says yes to anything: at `confirm` it would run the reorder; at `verified` it only opens the page
    arguments = {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": quantity}
    async with mcp_client("inventory", "alice@acme", human=human, mode="legacy") as client:
        result = await client.call_tool("create_reorder", arguments)
    approval_id = pending_approval_id(result)
    assert await _level_of(admin_url, approval_id) == "verified"
    assert [question.endswith("Open the approval page, sign in and decide there.") for question in human.questions] == [
        True
    ]
    assert without_approvals(await snapshot(admin_url, "inventory")) == without_approvals(before)


async def test_a_deployment_setting_raises_a_tools_level(admin_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_INVENTORY_APPROVAL_LEVELS", '{"create_reorder": "four_eyes"}')
    before = await snapshot(admin_url, "inventory")
    human = Human()
    async with mcp_client("inventory", "alice@acme", human=human) as client:
        result = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 5})
    approval_id = pending_approval_id(result)
    assert await _level_of(admin_url, approval_id) == "four_eyes" and human.questions == []
    assert without_approvals(await snapshot(admin_url, "inventory")) == without_approvals(before)


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ('{"release_payment": "confirm"}', "APPROVAL_LEVELS cannot lower 'release_payment' from verified to confirm"),
        ('{"issue_refund": "verified"}', "APPROVAL_LEVELS cannot lower 'issue_refund' from four_eyes to verified"),
        ('{"release_payments": "four_eyes"}', "APPROVAL_LEVELS names unknown tool(s): release_payments"),
        ('{"list_payments": "four_eyes"}', "APPROVAL_LEVELS names 'list_payments', which has no side effect"),
    ],
)
async def test_a_setting_that_would_lower_or_misname_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str, refusal: str
) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_PAYMENTS_APPROVAL_LEVELS", value)
    with pytest.raises(RuntimeError) as stopped:
        server_for(load_settings("payments"), local_identity=identity("fred@acme"))
    assert str(stopped.value) == refusal


@pytest.mark.parametrize("value", ['{"release_payment": "four-eyes"}', '{"release_payment": "none"}', "four_eyes"])
async def test_an_unknown_level_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_PAYMENTS_APPROVAL_LEVELS", value)
    with pytest.raises((ValidationError, ValueError)):
        load_settings("payments")


@pytest.mark.parametrize(
    ("tools", "refusal"),
    [
        (
            (write_something("procurement:decide"),),
            "tool 'write_something' requires 'procurement:decide', a scope reserved for deciding approvals",
        ),
        (
            (ReadTool(read_something, "payments:decide", READ, "R"),),
            "tool 'read_something' requires 'payments:decide', a scope reserved for deciding approvals",
        ),
        (
            (ReadTool(asks_something, "x:read", READ, "R"),),
            "tool 'asks_something' asks for approval but is a ReadTool: declare it as a SideEffect",
        ),
        (
            (ReadTool(read_something, "x:read", WRITE, "R"),),
            "tool 'read_something': readOnlyHint contradicts side_effect",
        ),
        ((write_something(annotations=READ),), "tool 'write_something': readOnlyHint contradicts side_effect"),
        ((write_something(), write_something()), "tool 'write_something' is listed twice"),
    ],
)
async def test_register_tools_refuses_a_table_that_lets_something_slip(tools: ToolTable, refusal: str) -> None:
    with pytest.raises(RuntimeError) as refused:
        register_tools(MCPServer("t"), tools)
    assert str(refused.value) == refusal


async def test_a_side_effect_whose_arguments_say_nothing_to_the_model_is_refused() -> None:
    @dataclass(frozen=True)
    class Undocumented:
        what: str

    with pytest.raises(TypeError, match="Undocumented needs a docstring for the model"):
        SideEffect(
            name="write_something", title="W", scope="x:write", arguments=Undocumented, level="confirm",
            question=_question, effect=_write, annotations=WRITE,
        )  # fmt: skip
