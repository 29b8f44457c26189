"""Forms carry a per-session CSRF token, checked first; every page answer carries the strict headers."""

from __future__ import annotations

import pytest

from tests.helpers import admin_rows, snapshot
from tests.http.stack import Stack
from tests.pages.browser import chromium, new_page, open_signed_in
from tests.pages.conftest import pages_url
from tests.pages.requests import approval_row, pending
from tests.payments.builders import ACME_PENDING

pytestmark = [pytest.mark.slow, pytest.mark.chromium]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@pytest.mark.parametrize("token", [None, "", "wrong-token", "from-another-session"])
async def test_a_post_without_this_sessions_csrf_token_is_refused_and_changes_nothing(
    pages_stack: Stack, seeded: None, admin_url: str, token: str | None
) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    url = pages_url(pages_stack, "payments", f"/{approval_id}")
    async with chromium() as browser:
        context, page, _ = await new_page(browser)
        await open_signed_in(page, url, "priya@acme")
        if token == "from-another-session":
            _, other, _ = await new_page(browser)
            await open_signed_in(other, url, "priya@acme")
            token = await other.input_value("input[name=csrf_token]")
            assert token != await page.input_value("input[name=csrf_token]")
        form: dict[str, str | float | bool] = {
            "decision": "approve",
            "arguments_sha256": await page.input_value("input[name=arguments_sha256]"),
        }
        if token is not None:
            form["csrf_token"] = token
        before = await snapshot(admin_url, "payments")
        seq = (await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM payments.audit_log"))[0][0]
        answer = await context.request.post(url, form=form)  # priya's own cookies, signed in and fresh
        assert answer.status == 403
        assert "did not come from this page" in await answer.text()
        assert answer.headers["content-security-policy"] == CSP
    assert await snapshot(admin_url, "payments") == before
    assert await approval_row(admin_url, "payments", approval_id) == ("pending", None)
    # A signed-in person's form that fails the check is recorded as theirs (a forged cross-site post
    # carries no session cookie: SameSite=Strict, so no one to attribute it to).
    records = await admin_rows(
        admin_url,
        "SELECT user_id, actor_kind, approval_id, outcome, detail FROM payments.audit_log WHERE seq > :s",
        s=seq,
    )
    assert records == [("priya@acme", "page", approval_id, "refused",
                        "approve refused on the approval page: the form failed its CSRF check")]  # fmt: skip


async def test_every_page_answer_carries_the_strict_headers_and_the_cookie_is_locked_down(
    pages_stack: Stack, seeded: None
) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    async with chromium() as browser:
        context, page, _ = await new_page(browser)
        answers = []
        page.on("response", lambda response: answers.append(response) if "/approvals" in response.url else None)
        await open_signed_in(page, pages_url(pages_stack, "payments", f"/{approval_id}"), "priya@acme")
        await page.goto(pages_url(pages_stack, "payments"))
        missing = await page.goto(pages_url(pages_stack, "payments", "/ap_00000000000000000000"))
        assert missing is not None and missing.status == 404  # error pages carry the headers too
        callback = pages_url(pages_stack, "payments", "/auth/callback?code=x&state=y")
        bounce = await context.request.get(callback, headers={"sec-fetch-site": "cross-site"})
        assert bounce.status == 200 and "bounced" in await bounce.text()  # the SameSite bounce page
        assert bounce.headers["content-security-policy"] == CSP and bounce.headers["x-frame-options"] == "DENY"
        assert bounce.headers["x-content-type-options"] == "nosniff"
        assert bounce.headers["referrer-policy"] == "same-origin"
        urls = {answer.url.split("?")[0] for answer in answers}
        # the redirect to sign in, the callback's redirect, the pages and the stylesheet
        assert any(u.endswith("/approvals/auth/login") for u in urls) and any(
            u.endswith("/auth/callback") for u in urls
        )
        assert any(u.endswith("/approvals.css") for u in urls)
        for answer in answers:
            headers = await answer.all_headers()
            assert headers["content-security-policy"] == CSP, answer.url
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "same-origin"
            assert headers["cache-control"] == "no-store"
        cookies = [cookie for cookie in await context.cookies() if cookie["name"] == "supplychain_approvals_payments"]
        assert len(cookies) == 1
        cookie = cookies[0]
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/approvals"  # never sent to /mcp or anything else of the origin
        assert cookie["secure"] is False  # plain HTTP on loopback here; see the TLS test for Secure


async def test_the_approval_page_cannot_be_framed(pages_stack: Stack, seeded: None) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    url = pages_url(pages_stack, "payments", f"/{approval_id}")
    async with chromium() as browser:
        _, page, watched = await new_page(browser)
        await open_signed_in(page, url, "priya@acme")
        # A page of another origin (the IdP's, standing in for an attacker's) frames the approval page.
        await page.goto(f"{pages_stack.idp.issuer}/.well-known/openid-configuration")
        await page.set_content(f'<iframe src="{url}" width=600 height=400></iframe>')
        frame = page.frames[1]
        await frame.wait_for_load_state()
        shown = await frame.evaluate("document.body ? document.body.innerText : ''")
        assert approval_id not in shown and "Approve" not in shown  # Chromium shows its own error instead
        assert any("frame-ancestors" in line for line in watched.console), watched.console
