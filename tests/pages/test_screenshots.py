"""The README's pictures of the approval pages, taken by a real browser: refresh them with

    SUPPLYCHAIN_WRITE_SCREENSHOTS=1 uv run pytest tests/pages -k screenshot

It takes approval-page.png and approvals-list.png (a pending release with a hostile supplier name, so
the outside-text block shows) and checks that both are PNG files of a sensible size. Only with that
variable set does it write them into docs/: a plain test run leaves the checkout unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.http.stack import Stack
from tests.pages.browser import DOCS, chromium, new_page, open_signed_in
from tests.pages.conftest import pages_url
from tests.pages.requests import pending
from tests.payments.builders import ACME_INJECTED, ACME_PENDING

pytestmark = [pytest.mark.slow, pytest.mark.chromium]
PNG = b"\x89PNG\r\n\x1a\n"


async def test_screenshots_of_the_approval_page_and_the_list(pages_stack: Stack, seeded: None, tmp_path: Path) -> None:
    folder = DOCS if os.environ.get("SUPPLYCHAIN_WRITE_SCREENSHOTS") == "1" else tmp_path
    first = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    injected = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_INJECTED})
    async with chromium() as browser:
        _, page, _ = await new_page(browser, viewport={"width": 1000, "height": 760})
        await open_signed_in(page, pages_url(pages_stack, "payments", f"/{first}"), "priya@acme")
        await page.goto(pages_url(pages_stack, "payments"))
        await page.screenshot(path=str(folder / "approvals-list.png"), full_page=True)
        await page.goto(pages_url(pages_stack, "payments", f"/{injected}"))
        await page.screenshot(path=str(folder / "approval-page.png"), full_page=True)
    for name in ("approvals-list.png", "approval-page.png"):
        data = (folder / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, name
