"""The human approval gate on reroute_shipment: what is asked, and that only a yes changes anything."""

from __future__ import annotations

from typing import Any

import pytest
from securemcp.errors import ConflictError

from tests.helpers import (
    Human,
    PagePerson,
    admin_rows,
    decide_as,
    decider,
    mcp_client,
    on_the_page,
    pending_approval_id,
    snapshot,
    without_approvals,
)
from tests.logistics.builders import DELIVERED, IN_TRANSIT, RETURNED, reroute_args, text, untrusted

pytestmark = pytest.mark.usefixtures("seeded")

REROUTE_ERROR = "Error executing tool reroute_shipment: "


TOO_LATE = "too late to reroute; nothing changed"


async def test_the_url_request_names_shipment_destination_reason_and_tenant_and_nothing_else(admin_url: str) -> None:
    human = Human(action="decline")
    async with mcp_client("logistics", "alice@acme", human=human, mode="legacy") as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    assert human.questions == [
        f"Reroute shipment {IN_TRANSIT} (carrier NWF, status in_transit) from warehouse AMS-1 to warehouse RTM-2, "
        "reason warehouse_capacity (organisation acme, requested by alice@acme)."
        "\n\nOpen the approval page, sign in and decide there."
    ]
    status = result.structured_content
    assert status is not None and status["outside_text"]["carrier tracking number"]["text"] == "NWF-500104"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_a_url_request_turned_down_leaves_the_approval_pending_and_changes_nothing(
    admin_url: str, action: str, mode: str
) -> None:
    before = await snapshot(admin_url, "logistics")
    async with mcp_client("logistics", "alice@acme", human=Human(action=action), mode=mode) as client:
        pending_approval_id(await client.call_tool("reroute_shipment", reroute_args()))
    assert without_approvals(await snapshot(admin_url, "logistics")) == without_approvals(before)


async def test_client_that_cannot_ask_a_human_gets_a_pending_approval_and_nothing_changes(admin_url: str) -> None:
    before = await snapshot(admin_url, "logistics")
    async with mcp_client("logistics", "alice@acme", human=None) as client:
        pending_approval_id(await client.call_tool("reroute_shipment", reroute_args()))
    assert without_approvals(await snapshot(admin_url, "logistics")) == without_approvals(before)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (reroute_args(DELIVERED), f"shipment {DELIVERED!r} is delivered, {TOO_LATE}"),
        (reroute_args(RETURNED), f"shipment {RETURNED!r} is returned, {TOO_LATE}"),
        (
            reroute_args(destination="AMS-1"),
            f"shipment {IN_TRANSIT!r} is already headed to 'AMS-1'; nothing changed",
        ),
        # globex's warehouse, so not one of acme's destinations.
        (reroute_args(destination="CHI-1"), "no destination warehouse 'CHI-1'"),
    ],
)
async def test_impossible_reroute_is_refused_before_asking_anyone(
    admin_url: str, args: dict[str, Any], message: str
) -> None:
    before = await snapshot(admin_url, "logistics")
    human = Human()
    async with mcp_client("logistics", "alice@acme", human=human) as client:
        result = await client.call_tool("reroute_shipment", args)
    assert result.is_error
    assert text(result) == REROUTE_ERROR + message
    assert human.questions == []
    assert await snapshot(admin_url, "logistics") == before


async def test_reroute_rechecks_the_shipment_when_decided(admin_url: str, server_urls: dict[str, str]) -> None:
    async with mcp_client("logistics", "alice@acme", human=None) as client:
        approval_id = pending_approval_id(await client.call_tool("reroute_shipment", reroute_args()))
    await admin_rows(
        admin_url, "UPDATE logistics.shipments SET status = 'delivered' WHERE id = :i RETURNING id", i=IN_TRANSIT
    )  # delivered while the approval waited
    with pytest.raises(ConflictError) as refused:
        await decide_as(server_urls, "logistics", decider("alice@acme"), approval_id, "approve")
    assert str(refused.value) == f"shipment {IN_TRANSIT!r} is delivered, {TOO_LATE}"
    assert await admin_rows(
        admin_url, "SELECT destination_code FROM logistics.shipments WHERE id = :i", i=IN_TRANSIT
    ) == [("AMS-1",)]
    reroutes = await admin_rows(admin_url, "SELECT count(*) FROM logistics.tracking_events WHERE kind = 'rerouted'")
    assert reroutes == [(0,)]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_approved_reroute_changes_destination_and_records_an_event(
    admin_url: str, server_urls: dict[str, str], mode: str
) -> None:
    human = PagePerson(server_urls, "logistics", "alice@acme")  # verified: alice says yes on the page
    async with mcp_client("logistics", "alice@acme", human=human, mode=mode) as client:
        result = await on_the_page(server_urls, "logistics", await client.call_tool("reroute_shipment", reroute_args()))
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    event = result.structured_content["event"]
    assert result.structured_content["shipment"]["destination"] == "RTM-2"
    assert result.structured_content["shipment"]["status"] == "in_transit"
    assert result.structured_content["previous_destination"] == "AMS-1"
    assert {key: event[key] for key in ("kind", "detail", "location", "recorded_by")} == {
        "kind": "rerouted",
        "detail": untrusted("destination AMS-1 -> RTM-2 (reason: warehouse_capacity)"),
        "location": None,
        "recorded_by": "alice@acme",
    }
    assert await admin_rows(
        admin_url, "SELECT destination_code, status FROM logistics.shipments WHERE id = :i", i=IN_TRANSIT
    ) == [("RTM-2", "in_transit")]
    assert await admin_rows(
        admin_url,
        "SELECT id, tenant_id, kind, detail, location, recorded_by FROM logistics.tracking_events "
        "WHERE shipment_id = :i AND kind = 'rerouted'",
        i=IN_TRANSIT,
    ) == [
        (event["id"], "acme", "rerouted", "destination AMS-1 -> RTM-2 (reason: warehouse_capacity)", None, "alice@acme")
    ]
    assert [request.mode for request in human.requests] == ["url"]
