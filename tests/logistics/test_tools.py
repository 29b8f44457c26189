"""What each logistics tool does for a caller allowed to use it: reads, pagination, and approved reroutes."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from shared.ids import fixture_id
from tests.helpers import Human, admin_rows, mcp_client, snapshot
from tests.logistics.builders import (
    ACME_NEWEST_FIRST,
    DELAYED,
    DELIVERED,
    IN_TRANSIT,
    RETURNED,
    reroute_args,
    text,
)

REROUTE_ERROR = "Error executing tool reroute_shipment: "
TOO_LATE = "too late to reroute; nothing changed"

async def test_list_carriers_returns_the_tenants_carriers_by_code(seeded: None) -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("list_carriers", {})
    assert not result.is_error
    assert result.structured_content == {
        "items": [
            {"id": fixture_id("ca", "acme/BLU"), "code": "BLU", "name": "Bluewater Lines", "mode": "sea"},
            {"id": fixture_id("ca", "acme/NWF"), "code": "NWF", "name": "Northwind Freight", "mode": "road"},
            {"id": fixture_id("ca", "acme/SKY"), "code": "SKY", "name": "Skyline Air Cargo", "mode": "air"},
        ],
        "next_cursor": None,
    }


async def test_list_carriers_pages_follow_on_from_the_cursor(seeded: None) -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        first = await client.call_tool("list_carriers", {"limit": 2})
        assert first.structured_content is not None
        cursor = first.structured_content["next_cursor"]
        second = await client.call_tool("list_carriers", {"limit": 2, "cursor": cursor})
    assert [c["code"] for c in first.structured_content["items"]] == ["BLU", "NWF"]
    assert second.structured_content == {
        "items": [
            {"id": fixture_id("ca", "acme/SKY"), "code": "SKY", "name": "Skyline Air Cargo", "mode": "air"},
        ],
        "next_cursor": None,
    }


async def test_list_shipments_returns_newest_first(seeded: None) -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("list_shipments", {})
    assert result.structured_content is not None
    items = result.structured_content["items"]
    assert [item["tracking_number"] for item in items] == ACME_NEWEST_FIRST
    assert items[2] == {
        "id": IN_TRANSIT, "tracking_number": "NWF-500104", "carrier": "NWF", "origin": "Hamburg, DE",
        "destination": "AMS-1", "status": "in_transit", "created_at": "2026-11-04T08:00:00Z",
    }
    assert result.structured_content["next_cursor"] is None


async def test_list_shipments_filters_by_status(seeded: None) -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        in_transit = await client.call_tool("list_shipments", {"status": "in_transit"})
        delivered = await client.call_tool("list_shipments", {"status": "delivered"})
    assert in_transit.structured_content is not None and delivered.structured_content is not None
    in_transit_numbers = [item["tracking_number"] for item in in_transit.structured_content["items"]]
    assert in_transit_numbers == ["SKY-900105", "NWF-500104"]
    assert [item["id"] for item in delivered.structured_content["items"]] == [DELIVERED]


async def test_list_shipments_pages_cover_every_shipment_once(seeded: None) -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        first = await client.call_tool("list_shipments", {"limit": 4})
        assert first.structured_content is not None and first.structured_content["next_cursor"] is not None
        cursor = first.structured_content["next_cursor"]
        second = await client.call_tool("list_shipments", {"limit": 4, "cursor": cursor})
    assert second.structured_content is not None
    pages = first.structured_content["items"] + second.structured_content["items"]
    assert [item["tracking_number"] for item in pages] == ACME_NEWEST_FIRST
    assert second.structured_content["next_cursor"] is None


async def test_list_shipments_refuses_a_malformed_cursor(seeded: None) -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("list_shipments", {"cursor": "bm90LWpzb24"})
    assert result.is_error
    assert text(result) == "Error executing tool list_shipments: malformed cursor 'bm90LWpzb24'"


async def test_track_shipment_returns_the_shipment_and_its_events_newest_first(seeded: None) -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("track_shipment", {"shipment_id": DELAYED})
    assert not result.is_error
    assert result.structured_content == {
        "shipment": {
            "id": DELAYED, "tracking_number": "BLU-700103", "carrier": "BLU", "origin": "Singapore, SG",
            "destination": "RTM-2", "status": "delayed", "created_at": "2026-11-03T08:00:00Z",
        },
        "events": [
            {"id": fixture_id("te", "acme/BLU-700103/2"), "kind": "delayed",
             "detail": "Held at port: congestion", "location": "Singapore, SG", "recorded_by": None,
             "occurred_at": "2026-11-03T20:00:00Z"},
            {"id": fixture_id("te", "acme/BLU-700103/1"), "kind": "departed",
             "detail": "Departed origin facility", "location": "Singapore, SG", "recorded_by": None,
             "occurred_at": "2026-11-03T14:00:00Z"},
            {"id": fixture_id("te", "acme/BLU-700103/0"), "kind": "created",
             "detail": "Shipment registered with the carrier", "location": "Singapore, SG",
             "recorded_by": None, "occurred_at": "2026-11-03T08:00:00Z"},
        ],
        "more_events": False,
    }


async def test_track_shipment_with_an_unknown_id_is_not_found(seeded: None) -> None:
    unknown = "sh_" + "0" * 20
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("track_shipment", {"shipment_id": unknown})
    assert result.is_error
    assert text(result) == f"Error executing tool track_shipment: no shipment {unknown!r}"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_approved_reroute_changes_destination_and_records_an_event(
    admin_url: str, seeded: None, mode: str
) -> None:
    human = Human()
    async with mcp_client("logistics", "alice@acme", human=human, mode=mode) as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    event = result.structured_content["event"]
    assert result.structured_content["shipment"]["destination"] == "RTM-2"
    assert result.structured_content["shipment"]["status"] == "in_transit"
    assert result.structured_content["previous_destination"] == "AMS-1"
    assert {key: event[key] for key in ("kind", "detail", "location", "recorded_by")} == {
        "kind": "rerouted", "detail": "destination AMS-1 -> RTM-2 (reason: warehouse_capacity)",
        "location": None, "recorded_by": "alice@acme",
    }
    assert await admin_rows(
        admin_url, "SELECT destination_code, status FROM logistics.shipments WHERE id = :i", i=IN_TRANSIT
    ) == [("RTM-2", "in_transit")]
    assert await admin_rows(
        admin_url,
        "SELECT id, tenant_id, kind, detail, location, recorded_by FROM logistics.tracking_events "
        "WHERE shipment_id = :i AND kind = 'rerouted'",
        i=IN_TRANSIT,
    ) == [(event["id"], "acme", "rerouted", "destination AMS-1 -> RTM-2 (reason: warehouse_capacity)", None,
           "alice@acme")]
    assert len(human.questions) == 1


async def test_rerouted_shipment_shows_the_reroute_as_its_newest_event(seeded: None) -> None:
    async with mcp_client("logistics", "alice@acme", human=Human()) as client:
        await client.call_tool("reroute_shipment", reroute_args(DELAYED, "AMS-1", "carrier_delay"))
        tracked = await client.call_tool("track_shipment", {"shipment_id": DELAYED})
    assert tracked.structured_content is not None
    assert tracked.structured_content["shipment"]["destination"] == "AMS-1"
    kinds = [event["kind"] for event in tracked.structured_content["events"]]
    assert kinds == ["rerouted", "delayed", "departed", "created"]


async def test_approval_question_names_shipment_destination_reason_and_tenant(seeded: None) -> None:
    human = Human()
    async with mcp_client("logistics", "alice@acme", human=human) as client:
        await client.call_tool("reroute_shipment", reroute_args())
    assert human.questions == [
        f"Reroute shipment {IN_TRANSIT} (tracking NWF-500104, carrier NWF, status in_transit) from warehouse "
        "AMS-1 to warehouse RTM-2, reason warehouse_capacity (organisation acme, requested by alice@acme)."
        "\n\nApprove this action?"
    ]


@pytest.mark.parametrize(
    ("human", "answer"),
    [
        (Human(approve=False), "declined"),
        (Human(action="decline"), "decline"),
        (Human(action="cancel"), "cancel"),
    ],
)
async def test_reroute_not_approved_changes_nothing(
    admin_url: str, seeded: None, human: Human, answer: str
) -> None:
    before = await snapshot(admin_url, "logistics")
    async with mcp_client("logistics", "alice@acme", human=human) as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    assert result.is_error
    assert text(result) == f"{REROUTE_ERROR}reroute_shipment was not approved ({answer}); nothing changed"
    assert await snapshot(admin_url, "logistics") == before


async def test_client_that_cannot_ask_a_human_is_refused_and_nothing_changes(
    admin_url: str, seeded: None
) -> None:
    before = await snapshot(admin_url, "logistics")
    async with mcp_client("logistics", "alice@acme", human=None) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("reroute_shipment", reroute_args())
    assert str(refused.value) == (
        "Client did not declare the form elicitation capability required by resolver "
        "'servers.logistics.tools:approve_reroute_shipment'"
    )
    assert await snapshot(admin_url, "logistics") == before


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
    admin_url: str, seeded: None, args: dict[str, Any], message: str
) -> None:
    before = await snapshot(admin_url, "logistics")
    human = Human()
    async with mcp_client("logistics", "alice@acme", human=human) as client:
        result = await client.call_tool("reroute_shipment", args)
    assert result.is_error
    assert text(result) == REROUTE_ERROR + message
    assert human.questions == []
    assert await snapshot(admin_url, "logistics") == before


class DeliveringHuman(Human):
    """Approves, but the shipment is delivered while the question is open."""

    def __init__(self, admin_url: str) -> None:
        super().__init__()
        self.admin_url = admin_url

    async def __call__(self, context: Any, params: Any) -> Any:
        await admin_rows(
            self.admin_url,
            "UPDATE logistics.shipments SET status = 'delivered' WHERE id = :i RETURNING id",
            i=IN_TRANSIT,
        )
        return await super().__call__(context, params)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_reroute_rechecks_the_shipment_after_approval(admin_url: str, seeded: None, mode: str) -> None:
    human = DeliveringHuman(admin_url)
    async with mcp_client("logistics", "alice@acme", human=human, mode=mode) as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    assert result.is_error
    assert text(result) == f"{REROUTE_ERROR}shipment {IN_TRANSIT!r} is delivered, {TOO_LATE}"
    assert len(human.questions) == 1
    assert await admin_rows(
        admin_url, "SELECT destination_code FROM logistics.shipments WHERE id = :i", i=IN_TRANSIT
    ) == [("AMS-1",)]
    assert await admin_rows(
        admin_url, "SELECT count(*) FROM logistics.tracking_events WHERE kind = 'rerouted'"
    ) == [(0,)]
