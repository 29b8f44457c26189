"""Four eyes and verified approvals: no client answer, no tool, no CLI decides; only `decide` by the right person.

`decide` is what the approval page calls after a person signs in (`securemcp.approvals.decisions`); here the tests
call it as the page would, with the server's own credential and a `Decider` built from fixture users.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from mcp.shared.exceptions import MCPError
from securemcp.errors import ConflictError, DeciderRefusedError, NotFoundError, SignInTooOldError

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
from tests.payments.builders import ACME_PARTLY_REFUNDED, ACME_PENDING

pytestmark = pytest.mark.usefixtures("seeded")

MODES = ["legacy", "auto"]  # 2025-11-25 and 2026-07-28


async def _payment(admin_url: str, payment_id: str) -> list[tuple[object, ...]]:
    return await admin_rows(admin_url, "SELECT status, released_by FROM payments.payments WHERE id = :i", i=payment_id)


async def _fred_asks_for_release(admin_url: str, mode: str = "auto") -> str:
    """fred@acme calls release_payment with a client that answers yes to everything; returns the approval id."""
    human = Human()
    async with mcp_client("payments", "fred@acme", human=human, mode=mode) as client:
        result = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    assert human.questions == []  # nobody's client is asked: a form answer cannot count
    approval_id = pending_approval_id(result)
    assert result.structured_content is not None and result.structured_content["level"] == "four_eyes"
    return approval_id


@pytest.mark.parametrize("mode", MODES)
async def test_four_eyes_in_band_with_an_auto_yes_client_releases_nothing(admin_url: str, mode: str) -> None:
    before = await snapshot(admin_url, "payments")
    approval_id = await _fred_asks_for_release(admin_url, mode)
    assert without_approvals(await snapshot(admin_url, "payments")) == without_approvals(before)
    assert await _payment(admin_url, ACME_PENDING) == [("pending_approval", None)]
    [(level, status, summary, outside)] = await admin_rows(
        admin_url,
        "SELECT level, status, summary, outside_text FROM payments.pending_approvals WHERE id = :i",
        i=approval_id,
    )
    assert (level, status) == ("four_eyes", "pending")
    # The sentence names the payee by the payment's id; the supplier's own words are kept apart.
    assert re.fullmatch(
        rf"Release payment {ACME_PENDING}: 12500\.00 EUR to the supplier of payment {ACME_PENDING}, "
        r"due \d{4}-\d\d-\d\d \(organisation acme, requested by fred@acme\)\.",
        summary,
    )
    assert outside == {"supplier name": "Nordic Steel AB", "invoice reference": "NS-2026-1141"}


async def test_the_requester_cannot_decide_a_four_eyes_approval(admin_url: str, server_urls: dict[str, str]) -> None:
    approval_id = await _fred_asks_for_release(admin_url)
    before = await snapshot(admin_url, "payments")
    with pytest.raises(DeciderRefusedError) as refused:
        await decide_as(server_urls, "payments", decider("fred@acme"), approval_id, "approve")
    assert str(refused.value) == (
        f"approval {approval_id!r} is four_eyes: it must be decided by another person than its requester "
        "fred@acme; nothing changed"
    )
    assert await snapshot(admin_url, "payments") == before


async def test_another_person_approves_once_and_the_audit_names_them_and_the_level(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    approval_id = await _fred_asks_for_release(admin_url)
    decided = await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")
    assert (decided.status, decided.decided_by, decided.level) == ("executed", "priya@acme", "four_eyes")
    assert await _payment(admin_url, ACME_PENDING) == [("released", "fred@acme")]
    records = await admin_rows(
        admin_url,
        "SELECT user_id, actor_kind, decision, outcome, detail FROM payments.audit_log "
        "WHERE approval_id = :i AND actor_kind = 'page'",
        i=approval_id,
    )
    assert records == [
        (
            "priya@acme", "page", "approved", "ok",
            "level four_eyes: approved and executed on the approval page by priya@acme; requested by fred@acme",
        )
    ]  # fmt: skip
    before = await snapshot(admin_url, "payments")
    with pytest.raises(ConflictError, match=f"approval '{approval_id}' is already executed; nothing changed"):
        await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")
    assert await snapshot(admin_url, "payments") == before
    async with mcp_client("payments", "fred@acme") as client:
        seen = (await client.call_tool("get_approval", {"approval_id": approval_id})).structured_content
    assert seen is not None and (seen["status"], seen["decided_by"]) == ("executed", "priya@acme")
    assert seen["result"]["status"] == "released"
    async with mcp_client("payments", "audrey@acme") as auditor:  # the decision reads back in the activity log
        log = (await auditor.call_tool("get_activity_log", {"tool": "release_payment"})).structured_content
    assert log is not None
    assert [(r["user_id"], r["actor_kind"]) for r in log["items"] if r["approval_id"] == approval_id] == [
        ("priya@acme", "page"), ("fred@acme", "mcp"),
    ]  # fmt: skip


async def test_a_denial_runs_nothing_and_is_audited(admin_url: str, server_urls: dict[str, str]) -> None:
    approval_id = await _fred_asks_for_release(admin_url)
    before = await snapshot(admin_url, "payments")
    denied = await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "deny")
    assert denied.status == "denied"
    assert without_approvals(await snapshot(admin_url, "payments")) == without_approvals(before)
    assert await admin_rows(
        admin_url,
        "SELECT user_id, decision, detail FROM payments.audit_log WHERE approval_id = :i AND actor_kind = 'page'",
        i=approval_id,
    ) == [
        ("priya@acme", "declined", "level four_eyes: denied on the approval page by priya@acme; requested by fred@acme")
    ]


async def test_another_tenants_decider_gets_the_answer_an_unknown_id_gets(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    approval_id = await _fred_asks_for_release(admin_url)
    before = await snapshot(admin_url, "payments")
    globex_decider = decider("priya@acme", tenant="globex")
    unknown = "ap_" + "0" * 20
    with pytest.raises(NotFoundError) as foreign:
        await decide_as(server_urls, "payments", globex_decider, approval_id, "approve")
    with pytest.raises(NotFoundError) as missing:
        await decide_as(server_urls, "payments", globex_decider, unknown, "approve")
    assert str(foreign.value) == f"no approval {approval_id!r}"
    assert str(foreign.value) == str(missing.value).replace(unknown, approval_id)
    assert await snapshot(admin_url, "payments") == before


async def test_a_stale_sign_in_decides_nothing(admin_url: str, server_urls: dict[str, str]) -> None:
    approval_id = await _fred_asks_for_release(admin_url)
    before = await snapshot(admin_url, "payments")
    stale = decider("priya@acme", signed_in_ago=timedelta(seconds=301))
    with pytest.raises(SignInTooOldError, match="sign in again"):
        await decide_as(server_urls, "payments", stale, approval_id, "approve")
    assert await snapshot(admin_url, "payments") == before


async def test_a_sign_in_from_before_the_request_decides_nothing(admin_url: str, server_urls: dict[str, str]) -> None:
    approval_id = await _fred_asks_for_release(admin_url)
    before = await snapshot(admin_url, "payments")
    earlier = decider("priya@acme", signed_in_ago=timedelta(seconds=120))  # recent enough, but before fred asked
    with pytest.raises(SignInTooOldError, match="sign-in made after the request"):
        await decide_as(server_urls, "payments", earlier, approval_id, "approve")
    assert await snapshot(admin_url, "payments") == before


async def test_a_person_without_the_decide_scope_cannot_decide_four_eyes(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    approval_id = await _fred_asks_for_release(admin_url)
    with pytest.raises(NotFoundError, match=f"no approval '{approval_id}'"):  # alice may neither see nor decide it
        await decide_as(server_urls, "payments", decider("alice@acme"), approval_id, "approve")
    assert await _payment(admin_url, ACME_PENDING) == [("pending_approval", None)]


async def test_no_tool_decides_or_lists_approvals_to_decide() -> None:
    for user in ("priya@acme", "fred@acme"):
        async with mcp_client("payments", user) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            with pytest.raises(MCPError) as refused:
                await client.call_tool("decide_approval", {"approval_id": "ap_" + "0" * 20, "decision": "approve"})
        assert not {name for name in names if "decide" in name or "pending" in name}
        assert refused.value.error.message == "Unknown tool: decide_approval"


async def test_a_refund_is_four_eyes_and_its_question_keeps_the_customers_words_apart(admin_url: str) -> None:
    async with mcp_client("payments", "fred@acme", human=Human()) as client:
        result = await client.call_tool("issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "10.00"})
    approval_id = pending_approval_id(result)
    [(level, summary, outside)] = await admin_rows(
        admin_url, "SELECT level, summary, outside_text FROM payments.pending_approvals WHERE id = :i", i=approval_id
    )
    assert level == "four_eyes"
    assert summary.startswith(f"Refund 10.00 EUR on charge {ACME_PARTLY_REFUNDED} to the customer of charge ")
    assert set(outside) == {"customer name", "charge reference"}
    assert all(value not in summary for value in outside.values())
