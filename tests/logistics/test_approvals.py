"""The human approval gate on reroute_shipment: what is asked, and that only a yes changes anything."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Human, admin_rows, mcp_client, pending_approval_id, snapshot, without_approvals
from tests.logistics.builders import DELIVERED, IN_TRANSIT, RETURNED, reroute_args, text

pytestmark = pytest.mark.usefixtures("seeded")

REROUTE_ERROR = "Error executing tool reroute_shipment: "
TOO_LATE = "too late to reroute; nothing changed"


async def test_approval_question_names_shipment_destination_reason_and_tenant() -> None:
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
async def test_reroute_not_approved_changes_nothing(admin_url: str, human: Human, answer: str) -> None:
    before = await snapshot(admin_url, "logistics")
    async with mcp_client("logistics", "alice@acme", human=human) as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    assert result.is_error
    assert text(result) == f"{REROUTE_ERROR}reroute_shipment was not approved ({answer}); nothing changed"
    assert await snapshot(admin_url, "logistics") == before


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
async def test_reroute_rechecks_the_shipment_after_approval(admin_url: str, mode: str) -> None:
    human = DeliveringHuman(admin_url)
    async with mcp_client("logistics", "alice@acme", human=human, mode=mode) as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    assert result.is_error
    assert text(result) == f"{REROUTE_ERROR}shipment {IN_TRANSIT!r} is delivered, {TOO_LATE}"
    assert len(human.questions) == 1
    assert await admin_rows(
        admin_url, "SELECT destination_code FROM logistics.shipments WHERE id = :i", i=IN_TRANSIT
    ) == [("AMS-1",)]
    reroutes = await admin_rows(admin_url, "SELECT count(*) FROM logistics.tracking_events WHERE kind = 'rerouted'")
    assert reroutes == [(0,)]
