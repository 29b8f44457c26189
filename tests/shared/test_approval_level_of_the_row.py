"""A side effect's level decided on the row it acts on, at the question and again under the row lock.

release_payment is `verified`, and `four_eyes` above 10000.00 in the payment's currency (its rule reads
the locked payment, not the arguments: both calls below send only a payment id). A payment raised
above that threshold after the question was asked must not be released by the yes the question got:
not by its requester on the page (the approval is `verified`), and not in band (a test side effect at
`confirm` with the same rule, asked while the row changes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from securemcp.approvals.pending import register_executors
from securemcp.errors import ConflictError, DeciderRefusedError
from securemcp.gate.server_factory import build_server
from securemcp.gate.side_effects import SideEffect

from servers.payments import tools
from supplychain.servers import approval_executors, load_settings
from tests.helpers import (
    Human,
    admin_execute,
    admin_rows,
    decide_as,
    decider,
    identity,
    mcp_client,
    pending_approval_id,
    snapshot,
)
from tests.payments.builders import ACME_PAYMENTS, ACME_PENDING

pytestmark = pytest.mark.usefixtures("seeded")

SMALL = ACME_PAYMENTS[1]  # 3480.50 EUR, pending approval
LARGE = ACME_PENDING  # 12500.00 EUR, pending approval
RAISED = "25000.00"


async def _set_amount(admin_url: str, payment_id: str, amount: str) -> None:
    """What another writer does between the question and the decision: the payment's amount changes."""
    sql = "UPDATE payments.payments SET amount = CAST(:a AS numeric) WHERE id = :i"
    await admin_execute(admin_url, sql, a=amount, i=payment_id)


async def _payment(admin_url: str, payment_id: str) -> tuple[Any, ...]:
    [row] = await admin_rows(
        admin_url, "SELECT status, released_by, amount::text FROM payments.payments WHERE id = :i", i=payment_id
    )
    return row


async def _approval(admin_url: str, approval_id: str) -> tuple[Any, ...]:
    [row] = await admin_rows(
        admin_url, "SELECT level, status FROM payments.pending_approvals WHERE id = :i", i=approval_id
    )
    return row


async def test_the_same_tool_asks_at_the_level_each_payment_needs(admin_url: str) -> None:
    async with mcp_client("payments", "fred@acme") as client:  # a client that cannot be asked: both wait on the page
        small = pending_approval_id(await client.call_tool("release_payment", {"payment_id": SMALL}))
        large = pending_approval_id(await client.call_tool("release_payment", {"payment_id": LARGE}))
    assert await _approval(admin_url, small) == ("verified", "pending")
    assert await _approval(admin_url, large) == ("four_eyes", "pending")


@pytest.mark.parametrize(("amount", "level"), [("10000.00", "verified"), ("10000.01", "four_eyes")])
async def test_four_eyes_starts_just_above_the_threshold(admin_url: str, amount: str, level: str) -> None:
    await _set_amount(admin_url, SMALL, amount)
    async with mcp_client("payments", "fred@acme") as client:
        approval_id = pending_approval_id(await client.call_tool("release_payment", {"payment_id": SMALL}))
    assert await _approval(admin_url, approval_id) == (level, "pending")


async def test_a_deployment_setting_still_raises_the_small_payment(
    admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_PAYMENTS_APPROVAL_LEVELS", '{"release_payment": "four_eyes"}')
    async with mcp_client("payments", "fred@acme") as client:
        approval_id = pending_approval_id(await client.call_tool("release_payment", {"payment_id": SMALL}))
    assert await _approval(admin_url, approval_id) == ("four_eyes", "pending")


async def test_a_payment_raised_after_the_question_is_not_released_by_its_verified_approval(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    async with mcp_client("payments", "fred@acme") as client:
        approval_id = pending_approval_id(await client.call_tool("release_payment", {"payment_id": SMALL}))
    assert await _approval(admin_url, approval_id) == ("verified", "pending")
    await _set_amount(admin_url, SMALL, RAISED)
    before = await snapshot(admin_url, "payments")

    # fred may decide a verified approval, but the row now needs more: the approval ends void, with the reason.
    ended = await decide_as(server_urls, "payments", decider("fred@acme"), approval_id, "approve")
    assert (ended.status, ended.void_reason) == (
        "void",
        "release_payment now needs four_eyes approval, more than the verified it was asked at: what it acts on "
        "changed after the question; nothing changed",
    )
    with pytest.raises(ConflictError):  # nobody can decide it any more: not fred again
        await decide_as(server_urls, "payments", decider("fred@acme"), approval_id, "approve")
    with pytest.raises(DeciderRefusedError):  # and a second person never could decide what was asked of fred alone
        await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")

    after = await snapshot(admin_url, "payments")
    domain = {name for name in before if name != "pending_approvals"}  # the approval itself ended void
    assert {name: after[name] for name in domain} == {name: before[name] for name in domain}
    assert await _payment(admin_url, SMALL) == ("pending_approval", None, RAISED)
    assert await _approval(admin_url, approval_id) == ("verified", "void")


# The same rule on a side effect whose least level is `confirm`, so that a yes is given in band.
pay_out = SideEffect(
    name="pay_out",
    title="Pay out",
    scope="payments:release",
    arguments=tools.ReleasePayment,
    lock=tools.pending_payment,
    level="confirm",
    raise_level=tools.large_payment,
    question=tools.release_question,
    effect=tools.release,
    annotations=tools.RELEASE,
)


class RaisesTheAmountWhileAsked(Human):
    """Says yes, but while the question is on screen another writer raises the payment above the threshold."""

    def __init__(self, admin_url: str) -> None:
        super().__init__()
        self.admin_url = admin_url

    async def __call__(self, context: Any, params: Any) -> Any:
        await _set_amount(self.admin_url, SMALL, RAISED)
        return await super().__call__(context, params)


@pytest.fixture
def payments_executors() -> Iterator[None]:
    """Building the test server registers its executors for the payments schema; put the real ones back."""
    yield
    register_executors("payments", approval_executors(load_settings("payments")))


@pytest.mark.usefixtures("payments_executors")
async def test_an_in_band_yes_for_a_small_payment_never_releases_it_once_it_is_large(admin_url: str) -> None:
    server = build_server(
        load_settings("payments"), (pay_out,), instructions="A test server.", local_identity=identity("fred@acme")
    )
    human = RaisesTheAmountWhileAsked(admin_url)
    async with Client(server, mode="legacy", elicitation_callback=human) as client:  # 2025-11-25: asked in the call
        result = await client.call_tool("pay_out", {"payment_id": SMALL})
    assert len(human.questions) == 1 and human.questions[0].startswith(f"Release payment {SMALL}: 3480.50 EUR")
    assert result.is_error is True
    assert result.content[0].text == (  # type: ignore[union-attr]
        "Error executing tool pay_out: pay_out now needs four_eyes approval, more than the confirm it was asked at: "
        "what it acts on changed after the question; nothing changed"
    )
    assert await _payment(admin_url, SMALL) == ("pending_approval", None, RAISED)


@pytest.mark.usefixtures("payments_executors")
async def test_a_2026_retry_decides_the_level_again_and_waits_for_four_eyes(admin_url: str) -> None:
    server = build_server(
        load_settings("payments"), (pay_out,), instructions="A test server.", local_identity=identity("fred@acme")
    )
    human = RaisesTheAmountWhileAsked(admin_url)
    async with Client(server, mode="auto", elicitation_callback=human) as client:  # 2026-07-28: asked between rounds
        result = await client.call_tool("pay_out", {"payment_id": SMALL})
    assert len(human.questions) == 1  # the yes came back with the retry, which found the row changed
    approval_id = pending_approval_id(result)
    assert await _approval(admin_url, approval_id) == ("four_eyes", "pending")
    assert await _payment(admin_url, SMALL) == ("pending_approval", None, RAISED)
