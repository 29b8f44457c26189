"""What the pages answer before anyone signs in: nothing about any approval, and never a decision."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from supplychain.cli import main
from tests.helpers import snapshot
from tests.http.stack import Stack, start_server
from tests.pages.browser import chromium, new_page, open_signed_in
from tests.pages.conftest import pages_url
from tests.pages.requests import approval_row, pending
from tests.payments.builders import ACME_PENDING

pytestmark = pytest.mark.slow


async def test_pages_send_a_stranger_to_sign_in_and_say_nothing_about_the_approval(
    pages_stack: Stack, seeded: None
) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    async with httpx2.AsyncClient(timeout=10) as http:
        for path in ("", f"/{approval_id}", "/ap_" + "0" * 20):
            answer = await http.get(pages_url(pages_stack, "payments", path))
            assert answer.status_code == 303
            assert answer.headers["location"].startswith(pages_url(pages_stack, "payments", "/auth/login?next="))
            assert answer.headers["cache-control"] == "no-store"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            assert approval_id not in answer.text


async def test_a_post_without_a_session_is_refused_before_anything_is_read(
    pages_stack: Stack, seeded: None, admin_url: str
) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    before = await snapshot(admin_url, "payments")
    async with httpx2.AsyncClient(timeout=10) as http:
        answer = await http.post(
            pages_url(pages_stack, "payments", f"/{approval_id}"), data={"decision": "approve", "csrf_token": "x"}
        )
    assert answer.status_code == 403
    assert "did not come from this page" in answer.text
    assert await snapshot(admin_url, "payments") == before
    assert await approval_row(admin_url, "payments", approval_id) == ("pending", None)


async def test_the_sign_in_goes_to_the_idp_with_pkce_and_a_forged_callback_is_refused(pages_stack: Stack) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        answer = await http.get(pages_url(pages_stack, "payments", "/auth/login?next=https://evil.example/"))
        assert answer.status_code == 302
        assert answer.headers["location"].startswith(pages_stack.idp.issuer + "/authorize?")
        assert "code_challenge_method=S256" in answer.headers["location"]
        # the callback's state is the sign-in's; a forged callback without it is refused
        forged = await http.get(pages_url(pages_stack, "payments", "/auth/callback?code=x&state=y"))
        assert forged.status_code == 400
        assert "could not be completed" in forged.text


async def test_under_tls_the_session_cookie_is_secure(pages_stack: Stack, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["dev-certs"], env={"SUPPLYCHAIN_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    certs = tmp_path / "certs"
    server = start_server(
        "payments", pages_stack.idp.issuer, tls_certfile=certs / "server.pem", tls_keyfile=certs / "server-key.pem"
    )
    try:
        async with httpx2.AsyncClient(
            timeout=10, verify=ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ) as http:
            answer = await http.get(f"{server.origin}/approvals/auth/login")
        assert answer.status_code == 302  # to the IdP; the sign-in's state is in the session cookie
        cookie = answer.headers["set-cookie"]
        # Over https at the origin's own /approvals: the `__Host-` prefix, so Path=/ and no Domain.
        assert cookie.startswith("__Host-supplychain_approvals_payments_signin=")
        assert "; secure" in cookie.lower() and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert "path=/;" in cookie.lower() and "domain" not in cookie.lower()
    finally:
        server.served.stop()


async def test_the_pages_accept_only_their_own_origin_and_the_mcp_endpoint_not_even_that(pages_stack: Stack) -> None:
    payments = pages_stack["payments"]
    async with httpx2.AsyncClient(timeout=10) as http:
        foreign = await http.post(
            pages_url(pages_stack, "payments", "/ap_" + "0" * 20), headers={"Origin": "http://evil.example"}
        )
        assert (foreign.status_code, foreign.text) == (403, "Invalid Origin header")
        own = await http.post(
            pages_url(pages_stack, "payments", "/ap_" + "0" * 20), headers={"Origin": payments.origin}
        )
        assert own.status_code == 403 and "did not come from this page" in own.text  # past the Origin check: CSRF
        mcp = await http.post(payments.url, headers={"Origin": payments.origin}, content=b"{}")
        assert (mcp.status_code, mcp.text) == (403, "Invalid Origin header")  # no page posts to /mcp


@pytest.mark.chromium
async def test_a_completed_sign_in_asked_to_go_elsewhere_lands_on_the_pages(pages_stack: Stack) -> None:
    async with chromium() as browser:
        _, page, _ = await new_page(browser)
        await open_signed_in(
            page, pages_url(pages_stack, "payments", "/auth/login?next=https://evil.example/"), "priya@acme"
        )
        assert page.url == pages_url(pages_stack, "payments")  # the list of the pages, not the outside site
