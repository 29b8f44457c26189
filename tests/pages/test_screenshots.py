"""The README's pictures of the approval pages, taken by a real browser: rerun with

    uv run pytest tests/pages -k screenshot

It writes docs/approval-page.png and docs/approvals-list.png (a pending release with a hostile supplier
name, so the outside-text block shows), then checks that both are PNG files of a sensible size.
"""

from __future__ import annotations

import pytest

from tests.http.stack import Stack
from tests.pages.browser import DOCS, chromium, new_page, open_signed_in
from tests.pages.conftest import pages_url
from tests.pages.requests import pending
from tests.payments.fixture_ids import ACME_INJECTED, ACME_PENDING

pytestmark = [pytest.mark.slow, pytest.mark.chromium]
PNG = b"\x89PNG\r\n\x1a\n"


async def test_screenshots_of_the_approval_page_and_the_list(pages_stack: Stack, seeded: None) -> None:
    first = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    injected = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_INJECTED})
    async with chromium() as browser:
        _, page, _ = await new_page(browser, viewport={"width": 1000, "height": 760})
        await open_signed_in(page, pages_url(pages_stack, "payments", f"/{first}"), "priya@acme")
        await page.goto(pages_url(pages_stack, "payments"))
        await page.screenshot(path=str(DOCS / "approvals-list.png"), full_page=True)
        await page.goto(pages_url(pages_stack, "payments", f"/{injected}"))
        await page.screenshot(path=str(DOCS / "approval-page.png"), full_page=True)
    for name in ("approvals-list.png", "approval-page.png"):
        data = (DOCS / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, name
