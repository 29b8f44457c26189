"""Phase 3: the approval pages through HAProxy at `/<server>/approvals/...`, with cookies scoped to it.

No bearer token is needed at the edge for the pages (people sign in on them); the replica learns its
public prefix from its PUBLIC_URL setting, so links, the sign-in callback and the cookie path carry
`/<server>`, and the cookie is Secure (the gateway speaks TLS).
"""

from __future__ import annotations

import pytest

from tests.gateway.conftest import Edge
from tests.pages.browser import chromium, decide, new_page, open_signed_in
from tests.pages.requests import approval_row, payment_row, pending
from tests.payments.builders import ACME_PENDING

pytestmark = [pytest.mark.slow, pytest.mark.chromium, pytest.mark.haproxy]


async def test_priya_signs_in_and_approves_through_the_gateway(edge: Edge, seeded: None, admin_url: str) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    url = f"{edge.gateway.settings.public_url}/payments/approvals/{approval_id}"
    async with chromium() as browser:
        # The dev CA is not in Chromium's store; TLS itself is tested with it in tests/gateway/test_edge.py.
        context, page, _ = await new_page(browser, ignore_https_errors=True)
        await open_signed_in(page, url, "priya@acme")
        assert page.url == url
        await decide(page, "approve")
        assert "approved and executed by priya@acme" in await page.inner_text("main")
        cookie = next(c for c in await context.cookies() if c["name"] == "__Secure-supplychain_approvals_payments")
        assert cookie["path"] == "/payments/approvals"
        assert cookie["secure"] is True and cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        # the list without a trailing slash stays under the gateway's prefix
        await page.goto(f"{edge.gateway.settings.public_url}/payments/approvals")
        assert page.url == f"{edge.gateway.settings.public_url}/payments/approvals"
        assert await page.title() == "Approvals waiting for you · payments approvals"
    assert await payment_row(admin_url, ACME_PENDING) == ("released", "fred@acme")
    assert await approval_row(admin_url, "payments", approval_id) == ("executed", "priya@acme")
