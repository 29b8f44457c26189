"""A `verified` call over real HTTP whose URL elicitation a person completes in Chromium, in both eras.

alice's MCP client (the `mcp` Client, 2025-11-25 "legacy" and 2026-07-28 "auto") calls reroute_shipment;
the server answers with the approval page's URL (elicitation in URL mode, or the input-required result);
the client's URL handler opens it in a real browser, where alice signs in at the IdP and presses Approve.
The call then completes with the executed result, and the reroute happened exactly once.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import ElicitResult
from playwright.async_api import Browser

from tests.helpers import admin_rows
from tests.http.clients import mcp_client
from tests.http.stack import Stack
from tests.http.tokens import mint
from tests.logistics.builders import IN_TRANSIT, reroute_args
from tests.pages.browser import chromium, decide, new_page, open_signed_in

pytestmark = [pytest.mark.slow, pytest.mark.chromium]


class BrowserPerson:
    """The client's elicitation handler: a URL is opened in Chromium, where `user` signs in and decides."""

    def __init__(self, browser: Browser, user: str) -> None:
        self.browser, self.user = browser, user
        self.urls: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        if getattr(params, "mode", None) != "url":
            return ElicitResult(action="decline")  # a form answer would never count; say no
        self.urls.append(params.url)
        _, page, _ = await new_page(self.browser)
        await open_signed_in(page, params.url, self.user)
        await decide(page, "approve")
        assert "approved and executed by" in await page.inner_text("main")
        return ElicitResult(action="accept")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_verified_reroute_completes_once_after_alice_approves_in_the_browser(
    pages_stack: Stack, seeded: None, admin_url: str, mode: str
) -> None:
    logistics = pages_stack["logistics"]
    token = mint(pages_stack.idp, user="alice@acme", server="logistics", audience=logistics.url)
    async with chromium() as browser:
        person = BrowserPerson(browser, "alice@acme")
        async with mcp_client(logistics.url, token, mode=mode, human=person) as client:  # type: ignore[arg-type]
            result = await client.call_tool("reroute_shipment", reroute_args())
    assert result.is_error is False, result.content
    status = result.structured_content
    assert status is not None and (status["status"], status["level"], status["decided_by"]) == (
        "executed", "verified", "alice@acme",
    )  # fmt: skip
    assert person.urls == [f"{logistics.origin}/approvals/{status['approval_id']}?tenant=acme"]
    rows = await admin_rows(admin_url, "SELECT destination_code FROM logistics.shipments WHERE id = :i", i=IN_TRANSIT)
    assert rows == [("RTM-2",)]
    [(events,)] = await admin_rows(
        admin_url,
        "SELECT count(*) FROM logistics.tracking_events WHERE shipment_id = :i AND kind = 'rerouted'",
        i=IN_TRANSIT,
    )
    assert events == 1
    # One yes, on the page. Under 2025-11-25 the waiting call ends with it; under 2026-07-28 the retry that
    # fetches the result is a replay, not a second approval.
    decisions = await admin_rows(
        admin_url,
        "SELECT actor_kind, decision FROM logistics.audit_log WHERE approval_id = :i AND decision <> 'pending' "
        "ORDER BY occurred_at",
        i=status["approval_id"],
    )
    assert decisions == [("page", "approved"), ("mcp", "approved" if mode == "legacy" else "replayed")]
