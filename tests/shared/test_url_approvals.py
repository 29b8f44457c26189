"""`verified` calls: a form answer never counts; URL elicitation brings the requester to the page, in both eras.

The `PagePerson` callback stands in for the browser: shown the page's URL, it decides there as the
signed-in requester (`securemcp.approvals.decisions.decide`, as the page does), then tells the client it is done.
The pages' own browser tests drive the same flow through Chromium.
"""

from __future__ import annotations

import pytest
from mcp.client import InputRequiredRoundsExceededError

from tests.helpers import (
    Human,
    PagePerson,
    admin_rows,
    mcp_client,
    pending_approval_id,
    snapshot,
    without_approvals,
)
from tests.logistics.builders import IN_TRANSIT, reroute_args

pytestmark = pytest.mark.usefixtures("seeded")


async def _shipment(admin_url: str) -> list[tuple[object, ...]]:
    return await admin_rows(
        admin_url, "SELECT destination_code, status FROM logistics.shipments WHERE id = :i", i=IN_TRANSIT
    )


async def _reroute_events(admin_url: str) -> int:
    [(count,)] = await admin_rows(
        admin_url,
        "SELECT count(*) FROM logistics.tracking_events WHERE shipment_id = :i AND kind = 'rerouted'",
        i=IN_TRANSIT,
    )
    return int(count)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_url_elicitation_completes_a_verified_call_once(
    admin_url: str, server_urls: dict[str, str], mode: str
) -> None:
    person = PagePerson(server_urls, "logistics", "alice@acme")
    async with mcp_client("logistics", "alice@acme", human=person, mode=mode) as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    assert result.is_error is False, result.content
    assert [getattr(request, "mode", None) for request in person.requests] == ["url"]
    [request] = person.requests
    status = result.structured_content
    assert status is not None and (status["status"], status["level"], status["decided_by"]) == (
        "executed", "verified", "alice@acme",
    )  # fmt: skip
    assert request.url == status["url"] and status["url"].endswith(f"/approvals/{status['approval_id']}?tenant=acme")
    assert status["result"]["shipment"]["destination"] == "RTM-2"
    assert await _shipment(admin_url) == [("RTM-2", "in_transit")]
    assert await _reroute_events(admin_url) == 1
    [(user, decision, detail)] = await admin_rows(
        admin_url,
        "SELECT user_id, decision, detail FROM logistics.audit_log WHERE approval_id = :i AND actor_kind = 'page'",
        i=status["approval_id"],
    )
    assert (user, decision) == ("alice@acme", "approved") and detail.startswith("level verified: ")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_denial_on_the_page_is_the_calls_answer(admin_url: str, server_urls: dict[str, str], mode: str) -> None:
    before = await snapshot(admin_url, "logistics")
    async with mcp_client(
        "logistics", "alice@acme", human=PagePerson(server_urls, "logistics", "alice@acme", "deny"), mode=mode
    ) as c:
        result = await c.call_tool("reroute_shipment", reroute_args())
    assert result.is_error is True
    assert result.content[0].text.startswith("reroute_shipment was not approved (approval ap_")
    assert result.content[0].text.endswith(" denied by alice@acme); nothing changed")
    assert without_approvals(await snapshot(admin_url, "logistics")) == without_approvals(before)


async def test_a_form_yes_never_runs_a_verified_call_2025(admin_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_APPROVAL_WAIT_SECONDS", "1")  # the bounded wait for the page, kept short
    before = await snapshot(admin_url, "logistics")
    human = Human()  # answers yes to everything, URL requests included
    async with mcp_client("logistics", "alice@acme", human=human, mode="legacy") as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    pending_approval_id(result)
    assert len(human.questions) == 1 and human.questions[0].endswith(
        "Open the approval page, sign in and decide there."
    )
    assert without_approvals(await snapshot(admin_url, "logistics")) == without_approvals(before)


async def test_a_form_yes_never_runs_a_verified_call_2026(admin_url: str) -> None:
    before = await snapshot(admin_url, "logistics")
    human = Human()
    async with mcp_client("logistics", "alice@acme", human=human, mode="auto") as client:
        with pytest.raises(InputRequiredRoundsExceededError):  # still pending: asked again, round after round
            await client.call_tool("reroute_shipment", reroute_args())
    assert len(human.questions) == 10  # the client's default round cap
    assert without_approvals(await snapshot(admin_url, "logistics")) == without_approvals(before)
    [(count,)] = await admin_rows(
        admin_url, "SELECT count(*) FROM logistics.pending_approvals WHERE status = 'pending'"
    )
    assert count == 1  # retries are answered from the one approval, never a new one


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_without_url_elicitation_gets_the_pending_result_with_the_url(admin_url: str, mode: str) -> None:
    before = await snapshot(admin_url, "logistics")
    async with mcp_client("logistics", "alice@acme", human=None, mode=mode) as client:
        result = await client.call_tool("reroute_shipment", reroute_args())
    approval_id = pending_approval_id(result)
    assert result.structured_content is not None and result.structured_content["level"] == "verified"
    assert result.structured_content["url"] == f"http://127.0.0.1:8102/approvals/{approval_id}?tenant=acme"
    assert without_approvals(await snapshot(admin_url, "logistics")) == without_approvals(before)


async def test_url_mode_with_an_idempotency_key_replays_the_executed_result(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    arguments = {**reroute_args(), "idempotency_key": "reroute-key-0001"}
    person = PagePerson(server_urls, "logistics", "alice@acme")
    async with mcp_client("logistics", "alice@acme", human=person, mode="auto") as client:
        first = await client.call_tool("reroute_shipment", arguments)
        again = await client.call_tool("reroute_shipment", arguments)
    assert first.structured_content is not None and first.structured_content["status"] == "executed"
    assert again.structured_content == first.structured_content
    assert len(person.requests) == 1  # the replay asked nobody
    assert await _reroute_events(admin_url) == 1
    [(count,)] = await admin_rows(admin_url, "SELECT count(*) FROM logistics.pending_approvals")
    assert count == 1
