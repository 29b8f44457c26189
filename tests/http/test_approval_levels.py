"""Approval levels over Streamable HTTP with real tokens, in both protocol eras.

Four eyes: fred's auto-yes client releases nothing. Verified: URL elicitation brings alice to the
page (the `PagePerson` callback decides there as the page would) and the call completes exactly once.
"""

from __future__ import annotations

import pytest

from tests.helpers import Human, PagePerson, admin_rows, pending_approval_id, snapshot, without_approvals
from tests.http.clients import mcp_client
from tests.http.stack import Stack
from tests.http.tokens import flow_token
from tests.logistics.builders import IN_TRANSIT, reroute_args
from tests.payments.builders import ACME_PENDING

pytestmark = pytest.mark.usefixtures("seeded")

MODES = ["legacy", "auto"]


@pytest.mark.parametrize("mode", MODES)
async def test_four_eyes_over_http_with_an_auto_yes_client_releases_nothing(
    mode: str, stack: Stack, admin_url: str
) -> None:
    payments = stack["payments"]
    token = (await flow_token(stack.idp, user="fred@acme", server="payments"))["access_token"]
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with mcp_client(payments.url, token, mode=mode, human=human) as client:
        result = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    approval_id = pending_approval_id(result)
    assert result.structured_content is not None and result.structured_content["level"] == "four_eyes"
    assert result.structured_content["url"] == f"{payments.origin}/approvals/{approval_id}?tenant=acme"
    assert human.questions == []
    assert without_approvals(await snapshot(admin_url, "payments")) == without_approvals(before)


@pytest.mark.parametrize("mode", MODES)
async def test_url_elicitation_over_http_completes_a_verified_call_once(
    mode: str, stack: Stack, admin_url: str, server_urls: dict[str, str]
) -> None:
    logistics = stack["logistics"]
    token = (await flow_token(stack.idp, user="alice@acme", server="logistics"))["access_token"]
    person = PagePerson(server_urls, "logistics", "alice@acme")
    async with mcp_client(logistics.url, token, mode=mode, human=person) as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    assert result.is_error is False, result.content
    assert [getattr(request, "mode", None) for request in person.requests] == ["url"]
    status = result.structured_content
    assert status is not None and (status["status"], status["decided_by"]) == ("executed", "alice@acme")
    assert await admin_rows(
        admin_url, "SELECT destination_code FROM logistics.shipments WHERE id = :i", i=IN_TRANSIT
    ) == [("RTM-2",)]
    [(count,)] = await admin_rows(
        admin_url,
        "SELECT count(*) FROM logistics.tracking_events WHERE shipment_id = :i AND kind = 'rerouted'",
        i=IN_TRANSIT,
    )
    assert count == 1
