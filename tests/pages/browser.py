"""A real browser for the approval pages' tests: Playwright driving Debian's Chromium.

Never `playwright install`: the system browser (`chromium` on PATH, Debian's /usr/bin/chromium) is launched
directly (`--no-sandbox` because the tests run as root). Tests that use it are marked `chromium` and skip
where it is missing; CI installs it.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from fixtures.tenants import DEV_PASSWORDS

CHROMIUM = shutil.which("chromium")  # Debian's /usr/bin/chromium
DOCS = Path(__file__).resolve().parents[2] / "docs"


def require_chromium() -> str:
    """The system Chromium's path; skips the calling test where there is none (tests are also marked
    `chromium`, which tests/conftest.py skips first)."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium); .ci/run installs it")
    return CHROMIUM


@asynccontextmanager
async def chromium(*, ignore_https_errors: bool = False) -> AsyncIterator[Browser]:
    """The system Chromium, headless."""
    executable = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Watched:
    """What a page did that a test must see: dialogs opened, console lines, CSP violations reported."""

    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    @property
    def csp_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]


async def new_page(browser: Browser, **context_options: object) -> tuple[BrowserContext, Page, Watched]:
    """A fresh browser profile (no cookies) with one page whose dialogs and console are recorded."""
    context = await browser.new_context(**context_options)  # type: ignore[arg-type]
    page = await context.new_page()
    watched = Watched()

    async def dismiss(dialog: object) -> None:
        watched.dialogs.append(getattr(dialog, "message", ""))
        await dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", dismiss)
    page.on("console", lambda message: watched.console.append(message.text))
    return context, page, watched


async def sign_in_at_idp(page: Page, user: str) -> None:
    """On the dev IdP's login page: type `user`'s dev password, and allow access if asked."""
    await page.wait_for_selector("input[name=username]")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", DEV_PASSWORDS[user])
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    allow = page.locator("button[name=decision][value=approve]")
    if await allow.count():
        await allow.click()
        await page.wait_for_load_state()


async def sign_in_at_oidc_provider(page: Page, subject: str) -> None:
    """On oidc-provider's dev login page (globex's IdP, tests/identity_providers): the person's subject and any
    password, then its consent page's Continue when it shows one."""
    await page.wait_for_selector("input[name=login]")
    await page.fill("input[name=login]", subject)
    await page.fill("input[name=password]", "any password: the dev login checks none")
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    if await page.locator("input[name=prompt][value=consent]").count():
        await page.click("button[type=submit]")
        await page.wait_for_load_state()


async def open_signed_in(page: Page, url: str, user: str) -> None:
    """Open `url` of the approval pages, signing in at the IdP on the way when asked to."""
    await page.goto(url)
    if await page.locator("input[name=password]").count():
        await sign_in_at_idp(page, user)
    # Back from another site (https pages, http IdP: schemeful cross-site), the callback first reloads itself
    # so the SameSite=Strict cookie comes along: wait until the browser has left it.
    await page.wait_for_url(lambda current: "/approvals" in current and "/auth/" not in current)


async def decide(page: Page, decision: str) -> None:
    """Press Approve or Deny on an approval page and wait for the answer."""
    async with page.expect_navigation():
        await page.click(f"button[name=decision][value={decision}]")
