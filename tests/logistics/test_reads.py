"""What each logistics read tool returns to a caller allowed to use it: carriers, shipments, tracking and pages."""

from __future__ import annotations

import pytest
from securemcp.ids import fixture_id

from tests.helpers import PagePerson, admin_rows, mcp_client
from tests.logistics.builders import (
    ACME_NEWEST_FIRST,
    DELAYED,
    DELIVERED,
    IN_TRANSIT,
    NONEXISTENT,
    reroute_args,
    text,
    untrusted,
)

pytestmark = pytest.mark.usefixtures("seeded")


async def test_list_carriers_returns_the_tenants_carriers_by_code() -> None:
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


async def test_list_carriers_pages_follow_on_from_the_cursor() -> None:
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


async def test_list_shipments_returns_newest_first() -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("list_shipments", {})
    assert result.structured_content is not None
    items = result.structured_content["items"]
    assert [item["tracking_number"] for item in items] == ACME_NEWEST_FIRST
    assert items[2] == {
        "id": IN_TRANSIT,
        "tracking_number": "NWF-500104",
        "carrier": "NWF",
        "origin": "Hamburg, DE",
        "destination": "AMS-1",
        "status": "in_transit",
        "created_at": "2026-11-04T08:00:00Z",
    }
    assert result.structured_content["next_cursor"] is None


async def test_list_shipments_filters_by_status() -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        in_transit = await client.call_tool("list_shipments", {"status": "in_transit"})
        delivered = await client.call_tool("list_shipments", {"status": "delivered"})
    assert in_transit.structured_content is not None and delivered.structured_content is not None
    in_transit_numbers = [item["tracking_number"] for item in in_transit.structured_content["items"]]
    assert in_transit_numbers == ["SKY-900105", "NWF-500104"]
    assert [item["id"] for item in delivered.structured_content["items"]] == [DELIVERED]


async def test_list_shipments_pages_cover_every_shipment_once() -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        first = await client.call_tool("list_shipments", {"limit": 4})
        assert first.structured_content is not None and first.structured_content["next_cursor"] is not None
        cursor = first.structured_content["next_cursor"]
        second = await client.call_tool("list_shipments", {"limit": 4, "cursor": cursor})
    assert second.structured_content is not None
    pages = first.structured_content["items"] + second.structured_content["items"]
    assert [item["tracking_number"] for item in pages] == ACME_NEWEST_FIRST
    assert second.structured_content["next_cursor"] is None


async def test_list_shipments_refuses_a_malformed_cursor() -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("list_shipments", {"cursor": "bm90LWpzb24"})
    assert result.is_error
    assert text(result) == "Error executing tool list_shipments: malformed cursor 'bm90LWpzb24'"


async def test_track_shipment_returns_the_shipment_and_its_events_newest_first() -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("track_shipment", {"shipment_id": DELAYED})
    assert not result.is_error
    assert result.structured_content == {
        "shipment": {
            "id": DELAYED,
            "tracking_number": "BLU-700103",
            "carrier": "BLU",
            "origin": "Singapore, SG",
            "destination": "RTM-2",
            "status": "delayed",
            "created_at": "2026-11-03T08:00:00Z",
        },
        "events": [
            {
                "id": fixture_id("te", "acme/BLU-700103/2"),
                "kind": "delayed",
                "detail": untrusted("Held at port: congestion"),
                "location": untrusted("Singapore, SG"),
                "recorded_by": None,
                "occurred_at": "2026-11-03T20:00:00Z",
            },
            {
                "id": fixture_id("te", "acme/BLU-700103/1"),
                "kind": "departed",
                "detail": untrusted("Departed origin facility"),
                "location": untrusted("Singapore, SG"),
                "recorded_by": None,
                "occurred_at": "2026-11-03T14:00:00Z",
            },
            {
                "id": fixture_id("te", "acme/BLU-700103/0"),
                "kind": "created",
                "detail": untrusted("Shipment registered with the carrier"),
                "location": untrusted("Singapore, SG"),
                "recorded_by": None,
                "occurred_at": "2026-11-03T08:00:00Z",
            },
        ],
        "more_events": False,
    }


async def test_track_shipment_returns_at_most_fifty_events_and_says_more_exist(admin_url: str) -> None:
    await admin_rows(
        admin_url,
        "INSERT INTO logistics.tracking_events (id, tenant_id, shipment_id, kind, detail, location, occurred_at) "
        "SELECT 'te_' || lpad(to_hex(n), 20, '0'), 'acme', :s, 'arrived', 'hub scan ' || n, 'Venlo', "
        "timestamptz '2026-11-10 00:00Z' + n * interval '1 minute' FROM generate_series(1, 60) AS n RETURNING id",
        s=DELAYED,
    )
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("track_shipment", {"shipment_id": DELAYED})
    assert result.structured_content is not None
    events = result.structured_content["events"]
    assert (len(events), result.structured_content["more_events"]) == (50, True)
    assert (events[0]["detail"]["text"], events[-1]["detail"]["text"]) == ("hub scan 60", "hub scan 11")


async def test_track_shipment_with_an_unknown_id_is_not_found() -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        result = await client.call_tool("track_shipment", {"shipment_id": NONEXISTENT})
    assert result.is_error
    assert text(result) == f"Error executing tool track_shipment: no shipment {NONEXISTENT!r}"


async def test_rerouted_shipment_shows_the_reroute_as_its_newest_event(server_urls: dict[str, str]) -> None:
    async with mcp_client(
        "logistics", "alice@acme", human=PagePerson(server_urls, "logistics", "alice@acme")
    ) as client:
        await client.call_tool("reroute_shipment", reroute_args(DELAYED, "AMS-1", "carrier_delay"))
        tracked = await client.call_tool("track_shipment", {"shipment_id": DELAYED})
    assert tracked.structured_content is not None
    assert tracked.structured_content["shipment"]["destination"] == "AMS-1"
    kinds = [event["kind"] for event in tracked.structured_content["events"]]
    assert kinds == ["rerouted", "delayed", "departed", "created"]
