"""`supplychain audit review`: quiet on normal traffic, flags a probing burst and a side-effect burst.

Every call here goes through a real MCP client, and every decision through `decide`, as the approval
page makes it; each test reviews only the window since it began.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from deployment.registry import SERVERS
from fixtures.returns import return_id
from supplychain.admin import admin_engine
from supplychain.review import Call, ReviewSettings, parse_duration, render, review, review_servers
from tests.helpers import (
    Human,
    PagePerson,
    admin_execute,
    admin_rows,
    decide_as,
    decider,
    mcp_client,
    pending_approval_id,
)
from tests.logistics.builders import reroute_args
from tests.payments.builders import ACME_PAYMENTS

pytestmark = pytest.mark.usefixtures("seeded")

STOCK = {"sku": "BOLT-M8", "warehouse": "AMS-1"}


@pytest.fixture
async def start() -> AsyncIterator[datetime]:
    yield datetime.now(UTC)


async def _review(admin_url: str, start: datetime, **settings: int) -> tuple[str, bool]:
    engine = admin_engine(admin_url)
    try:
        lines, flagged = await review_servers(
            engine, SERVERS, start=start, tenant=None, settings=ReviewSettings(**settings)
        )
    finally:
        await engine.dispose()
    return "\n".join(lines), flagged


def _block(report: str, tenant: str) -> list[str]:
    """The lines of `report` about `tenant`: from its heading to the blank line before the next tenant."""
    lines = report.split("\n")
    start = lines.index(next(line for line in lines if line.startswith(f"tenant {tenant}: ")))
    return lines[start : lines.index("", start) if "" in lines[start:] else len(lines)]


async def _normal_traffic() -> None:
    async with mcp_client("inventory", "alice@acme", human=Human()) as client:
        await client.call_tool("list_warehouses", {})
        for _ in range(3):
            await client.call_tool("get_stock_level", STOCK)
        await client.call_tool("get_stock_level", {"sku": "TAPE-99", "warehouse": "AMS-1"})  # a typo: not found
        await client.call_tool("create_reorder", {**STOCK, "quantity": 100})
    async with mcp_client("inventory", "ana@acme") as client:
        await client.call_tool("list_stock_levels", {})
        with pytest.raises(MCPError):  # an analyst tries to reorder: a step-up event, not an anomaly
            await client.call_tool("create_reorder", {**STOCK, "quantity": 100})
    async with mcp_client("returns", "rita@acme") as client:
        await client.call_tool("list_returns", {})
        await client.call_tool("get_return", {"return_id": return_id("acme", "crushed-box")})


async def test_normal_traffic_is_reported_and_nothing_is_flagged(admin_url: str, start: datetime) -> None:
    await _normal_traffic()
    report, flagged = await _review(admin_url, start)
    assert not flagged, report
    assert "tenant acme: nothing flagged" in report
    assert "inventory get_stock_level: error 1, ok 3" in report
    assert "inventory create_reorder: ok 2, refused 1" in report  # alice's two rounds; ana's refusal
    assert "step-up (insufficient scope): 1 (inventory inventory:reorder x1)" in report
    assert "inventory: missing scope inventory:reorder x1" in report
    assert "in band: approved 1" in report
    assert "FLAG" not in report


async def test_a_burst_of_lookups_of_other_tenants_ids_is_flagged(admin_url: str, start: datetime) -> None:
    await _normal_traffic()
    probes = [return_id("acme", name) for name in ("crushed-box", "wrong-size", "late-claim")] + [
        f"rma_{index:020x}" for index in range(9)
    ]
    async with mcp_client("returns", "bob@globex") as client:
        for probe in probes:
            result = await client.call_tool("get_return", {"return_id": probe})
            assert result.is_error and result.content[0].text.endswith(f": no return {probe!r}")  # type: ignore[union-attr]
    report, flagged = await _review(admin_url, start)
    assert flagged
    assert "tenant globex: FLAGGED" in report
    assert "FLAG not-found lookups by id (probing for ids): local bob@globex: 12 calls within 60 s" in report
    assert "tenant acme: nothing flagged" in report  # the victim's own traffic stays quiet
    # Below the threshold, the same traffic is quiet: the flag comes from the burst, not from the calls.
    assert not (await _review(admin_url, start, not_found_burst=13))[1]


async def test_a_burst_of_side_effects_is_flagged(admin_url: str, start: datetime) -> None:
    async with mcp_client("inventory", "alice@acme", human=Human()) as client:
        for quantity in range(1, 11):
            result = await client.call_tool("create_reorder", {**STOCK, "quantity": quantity})
            assert not result.is_error
    report, flagged = await _review(admin_url, start)
    assert flagged
    assert "FLAG side-effect burst: alice@acme: 10 calls within 300 s" in report
    assert "on inventory (threshold 10)" in report
    assert not (await _review(admin_url, start, side_effect_burst=11))[1]


async def _fred_asks_for_releases(payment_ids: list[str]) -> list[str]:
    """fred@acme asks to release each payment (four eyes: each waits for the page); the approval ids."""
    async with mcp_client("payments", "fred@acme", human=Human()) as client:
        return [
            pending_approval_id(await client.call_tool("release_payment", {"payment_id": payment_id}))
            for payment_id in payment_ids
        ]


async def test_ten_page_denials_by_one_approver_are_ten_decisions_not_a_burst(
    admin_url: str, server_urls: dict[str, str], start: datetime
) -> None:
    for approval_id in await _fred_asks_for_releases([ACME_PAYMENTS[0]] * 10):
        await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "deny")
    report, flagged = await _review(admin_url, start)
    assert not flagged, report
    assert _block(report, "acme") == [
        "tenant acme: nothing flagged",
        "  calls by tool and outcome:",
        "    payments release_payment: ok 10",  # fred's ten requests, each answered "pending"
        "  refusals by reason: none",
        "  step-up (insufficient scope): 0",
        "  approvals out of band: asked 10, approved 0, denied 10, expired 0, pending 0; in band: none",
        "  decided on the approval page: approved 0, denied 10",
        "    payments release_payment: denied 10 by priya@acme",
        "  side effects by requester: none",
    ]


async def test_an_effect_approved_on_the_page_is_credited_to_its_requester(
    admin_url: str, server_urls: dict[str, str], start: datetime
) -> None:
    # Both above 10000.00, so both four eyes (the second is 3480.50 in the fixtures: fred's own yes would do).
    await admin_execute(admin_url, "UPDATE payments.payments SET amount = 10480.50 WHERE id = :i", i=ACME_PAYMENTS[1])
    for approval_id in await _fred_asks_for_releases(ACME_PAYMENTS[:2]):
        await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")
    [(first_effect,)] = await admin_rows(
        admin_url,
        "SELECT min(occurred_at) FROM payments.audit_log WHERE actor_kind = 'page' AND occurred_at >= :start",
        start=start,
    )
    report, flagged = await _review(admin_url, start, side_effect_burst=2)
    assert flagged
    assert _block(report, "acme") == [
        "tenant acme: FLAGGED",
        f"  FLAG side-effect burst: fred@acme: 2 calls within 300 s from {first_effect:%Y-%m-%d %H:%M:%S} "
        "on payments (threshold 2)",
        "  calls by tool and outcome:",
        "    payments release_payment: ok 2",
        "  refusals by reason: none",
        "  step-up (insufficient scope): 0",
        "  approvals out of band: asked 2, approved 2, denied 0, expired 0, pending 0; in band: none",
        "  decided on the approval page: approved 2, denied 0",
        "    payments release_payment: approved 2 by priya@acme",
        "  side effects by requester: fred@acme 2",
    ]


# 2025-11-25: the call waits for the page; 2026-07-28: a round that asks, then the retry.
@pytest.mark.parametrize(("mode", "calls"), [("legacy", 1), ("auto", 2)])
async def test_an_effect_its_requester_approved_on_the_page_counts_once(
    admin_url: str, server_urls: dict[str, str], start: datetime, mode: str, calls: int
) -> None:
    """A verified call shown the page: the requester's call only reads the decision back; the page's
    record is the decision and the effect."""
    async with mcp_client("logistics", "alice@acme", human=PagePerson(server_urls, "logistics", "alice@acme"),
                          mode=mode) as client:  # fmt: skip
        assert not (await client.call_tool("reroute_shipment", reroute_args())).is_error
    report, flagged = await _review(admin_url, start)
    assert not flagged, report
    assert _block(report, "acme") == [
        "tenant acme: nothing flagged",
        "  calls by tool and outcome:",
        f"    logistics reroute_shipment: ok {calls}",
        "  refusals by reason: none",
        "  step-up (insufficient scope): 0",
        "  approvals out of band: asked 1, approved 1, denied 0, expired 0, pending 0; in band: none",
        "  decided on the approval page: approved 1, denied 0",
        "    logistics reroute_shipment: approved 1 by alice@acme",
        "  side effects by requester: alice@acme 1",
    ]


async def test_the_command_exits_1_when_something_is_flagged(admin_url: str) -> None:
    async with mcp_client("returns", "bob@globex") as client:
        for index in range(10):
            await client.call_tool("get_return", {"return_id": f"rma_{index:020x}"})
    command = [sys.executable, "-m", "supplychain.cli", "audit", "review", "--since", "10m", "--tenant", "globex"]
    result = await anyio.run_process(
        command, check=False, env={**os.environ, "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url}
    )
    assert result.returncode == 1, result.stderr.decode()
    assert "FLAG not-found lookups by id" in result.stdout.decode()
    bad = await anyio.run_process([*command[:6], "yesterday"], check=False)
    assert bad.returncode == 2 and "not a duration like 24h" in bad.stderr.decode()


async def test_durations() -> None:
    assert parse_duration("24h").total_seconds() == 86_400
    assert parse_duration("90s").total_seconds() == 90
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("1w")


def _record(tool: str, outcome: str, detail: str, *, user: str = "alice@acme", actor_kind: str = "mcp") -> Call:
    return Call(
        server="inventory", occurred_at=datetime.now(UTC), tenant_id="acme", user_id=user, client_id="agent",
        token_id="jti-1", client_address="127.0.0.1", tool=tool, decision="not_required", outcome=outcome,
        detail=detail, actor_kind=actor_kind, approval_id=None, requested_by=None,
    )  # fmt: skip


async def test_transport_refusals_are_counted_by_their_records_counts_and_page_refusals_by_person() -> None:
    """One transport-refusal record may stand for many refusals (`securemcp.http.refusals`): its count is summed."""
    calls = [
        _record("list_warehouses", "ok", ""),
        _record("(transport)", "refused", "transport refusal rate_limited x1: tenant request limit 3 per 1 minute"),
        _record("(transport)", "refused", "transport refusal rate_limited x999: more refusals in the minute"),
        _record("(transport)", "refused", "transport refusal header_mismatch x1: mcp-name header does not match"),
        _record(
            "release_payment",
            "refused",
            "approve refused on the approval page: approval 'ap_1' is four_eyes: it must be decided by another person",
            user="fred@acme",
            actor_kind="page",
        ),
    ]
    lines = render(review(calls, [], {}, ReviewSettings()), since=datetime(2026, 1, 1, tzinfo=UTC))
    assert lines[2:] == [
        "tenant acme: nothing flagged",
        "  calls by tool and outcome:",
        "    inventory list_warehouses: ok 1",
        "  refusals by reason: none",
        "  refused at the transport:",
        "    inventory: header_mismatch x1",
        "    inventory: rate_limited x1000",
        "  step-up (insufficient scope): 0",
        "  approvals out of band: asked 0, approved 0, denied 0, expired 0, pending 0; in band: none",
        "  decided on the approval page: none",
        "  refused on the approval page:",
        "    inventory: approval '…' is four_eyes: it must be decided by another person x1 (fred@acme)",
        "  side effects by requester: none",
    ]
