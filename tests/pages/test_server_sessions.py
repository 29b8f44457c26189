"""Page sessions live on the server: a copied cookie dies with sign-out, a link from elsewhere cannot
replace a session, an incident ends every session of a person, and the cookie's prefix fits its origin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from securemcp.approvals.pages.config import PagesConfig
from securemcp.approvals.pages.sessions import end_page_sessions, session_cookie
from securemcp.tenancy.database import create_engine

from deployment.policy import POLICY
from tests.helpers import admin_rows
from tests.http.stack import Stack
from tests.pages.browser import chromium, new_page, open_signed_in
from tests.pages.conftest import pages_url
from tests.pages.requests import pending
from tests.payments.builders import ACME_PENDING

pytestmark = [pytest.mark.slow, pytest.mark.chromium]
COOKIE = "supplychain_approvals_payments"


async def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(pages_stack: Stack, seeded: None) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    url = pages_url(pages_stack, "payments", f"/{approval_id}")
    async with chromium() as browser:
        context, page, _ = await new_page(browser)
        await open_signed_in(page, url, "priya@acme")
        copied = [cookie for cookie in await context.cookies() if cookie["name"] == COOKIE]
        token = await page.input_value("input[name=csrf_token]")
        async with page.expect_navigation():
            await page.click("form.who button[type=submit]")
        assert await page.title() == "Signed out · payments approvals"

        thief, _, _ = await new_page(browser)
        await thief.add_cookies(copied)  # type: ignore[arg-type]
        shown = await thief.request.get(url, max_redirects=0)
        assert shown.status == 303
        assert shown.headers["location"] == pages_url(pages_stack, "payments", f"/auth/login?next=%2F{approval_id}")
        posted = await thief.request.post(
            url, form={"csrf_token": token, "decision": "approve", "arguments_sha256": "x"}, max_redirects=0
        )
        assert posted.status == 403 and "did not come from this page" in await posted.text()


async def test_a_link_from_another_site_to_sign_in_does_not_replace_the_session(
    pages_stack: Stack, seeded: None, admin_url: str
) -> None:
    async with chromium() as browser:
        context, page, _ = await new_page(browser)
        await open_signed_in(page, pages_url(pages_stack, "payments"), "priya@acme")
        before = [c["value"] for c in await context.cookies() if c["name"] == COOKIE]
        # A page of another site (the IdP's origin stands in for an attacker's) links to the sign-in.
        await page.goto(f"{pages_stack.idp.issuer}/.well-known/openid-configuration")
        login = pages_url(pages_stack, "payments", "/auth/login")
        await page.set_content(f'<a id="go" href="{login}">win a prize</a>')
        async with page.expect_navigation():
            await page.click("#go")
        assert page.url == login  # not sent on to the IdP
        assert await page.title() == "Sign in again · payments approvals"
        assert "You are signed in as priya@acme" in await page.inner_text("main")
        assert [c["value"] for c in await context.cookies() if c["name"] == COOKIE] == before
    rows = await admin_rows(admin_url, "SELECT count(*) FROM payments.page_sessions WHERE user_id = 'priya@acme'")
    assert rows == [(1,)]


async def test_end_page_sessions_signs_a_person_out_of_every_browser(
    pages_stack: Stack, seeded: None, server_urls: dict[str, str]
) -> None:
    url = pages_url(pages_stack, "payments")
    async with chromium() as browser:
        _, first, _ = await new_page(browser)
        _, second, _ = await new_page(browser)
        await open_signed_in(first, url, "priya@acme")
        await open_signed_in(second, url, "priya@acme")
        engine = create_engine(server_urls["payments"])
        try:
            ended = await end_page_sessions(engine, schema="payments", tenant_id="acme", user_id="priya@acme")
        finally:
            await engine.dispose()
        assert ended >= 2
        for page in (first, second):
            answer = await page.request.get(url, max_redirects=0)
            assert answer.status == 303 and "/auth/login" in answer.headers["location"]


def _config(base_url: str) -> PagesConfig:
    return PagesConfig(
        server="payments", base_url=base_url, issuer_url="https://idp.example", client_id=None, client_secret=None,
        max_sign_in_age=timedelta(minutes=5), session_key=b"k" * 32,
        policy=POLICY,
    )  # fmt: skip


async def test_the_cookie_prefix_fits_where_the_pages_live() -> None:
    own = session_cookie(_config("https://payments.example:8443/approvals"))
    assert (own.name, own.path, own.secure) == ("__Host-supplychain_approvals_payments", "/", True)
    # Behind the gateway the origin is every server's: Path=/ would send the cookie to all of them.
    gateway = session_cookie(_config("https://gw.example:8443/payments/approvals"))
    assert (gateway.name, gateway.path, gateway.secure) == (
        "__Secure-supplychain_approvals_payments",
        "/payments/approvals",
        True,
    )
    plain = session_cookie(_config("http://127.0.0.1:8104/approvals"))
    assert (plain.name, plain.path, plain.secure) == (COOKIE, "/approvals", False)
