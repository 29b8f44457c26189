"""Deciding on the approval page in a real browser: who may, when, and that it runs exactly once."""

from __future__ import annotations

import pytest

from tests.helpers import admin_execute, admin_rows, snapshot
from tests.http.stack import Stack
from tests.pages.browser import chromium, decide, new_page, open_signed_in, sign_in_at_idp
from tests.pages.conftest import pages_url
from tests.pages.requests import approval_row, payment_row, pending
from tests.payments.builders import ACME_PENDING, GLOBEX_PAYMENTS

pytestmark = [pytest.mark.slow, pytest.mark.chromium]

PAGE_RECORDS = (
    "SELECT tool, user_id, actor_kind, client_id, approval_id, outcome, decision, detail FROM payments.audit_log "
    "WHERE seq > :s AND actor_kind = 'page' ORDER BY seq"
)


async def last_seq(admin_url: str) -> int:
    return int((await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM payments.audit_log"))[0][0])


async def test_priya_signs_in_and_approves_freds_release_which_runs_once(
    pages_stack: Stack, seeded: None, admin_url: str
) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    assert await payment_row(admin_url, ACME_PENDING) == ("pending_approval", None)
    async with chromium() as browser:
        context, page, watched = await new_page(browser)
        await open_signed_in(page, pages_url(pages_stack, "payments", f"/{approval_id}"), "priya@acme")
        assert "12500.00 EUR" in await page.inner_text(".sentence")
        form: dict[str, str | float | bool] = {
            "csrf_token": await page.input_value("input[name=csrf_token]"),
            "arguments_sha256": await page.input_value("input[name=arguments_sha256]"),
            "decision": "approve",
        }
        await decide(page, "approve")
        assert await page.title() == "Decided · payments approvals"
        assert f"{approval_id} was approved and executed by priya@acme" in await page.inner_text("main")
        assert await payment_row(admin_url, ACME_PENDING) == ("released", "fred@acme")  # as the requester
        assert await approval_row(admin_url, "payments", approval_id) == ("executed", "priya@acme")
        after_first = await snapshot(admin_url, "payments")
        seq = await last_seq(admin_url)

        # The same form posted again (a replay, a double click): a conflict, and nothing runs twice.
        replay = await context.request.post(pages_url(pages_stack, "payments", f"/{approval_id}"), form=form)
        assert replay.status == 409
        assert "already executed" in await replay.text()
        assert await snapshot(admin_url, "payments") == after_first
        # The refused second decision is recorded as priya's, and decides nothing.
        assert await admin_rows(admin_url, PAGE_RECORDS, s=seq) == [
            ("release_payment", "priya@acme", "page", "approval-page", approval_id, "refused", "not_required",
             f"approve refused on the approval page: approval {approval_id!r} is already executed; nothing changed"),
        ]  # fmt: skip
        assert watched.dialogs == []


async def test_fred_cannot_approve_his_own_four_eyes_release_on_the_page(
    pages_stack: Stack, seeded: None, admin_url: str
) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    before = await snapshot(admin_url, "payments")
    seq = await last_seq(admin_url)
    async with chromium() as browser:
        _, page, _ = await new_page(browser)
        await open_signed_in(page, pages_url(pages_stack, "payments", f"/{approval_id}"), "fred@acme")
        if await page.locator("button[name=decision][value=approve]").count():
            await decide(page, "approve")
        text = await page.inner_text("main")
    assert "You cannot decide this approval" in text
    assert "fred@acme" in text
    assert await snapshot(admin_url, "payments") == before
    assert await payment_row(admin_url, ACME_PENDING) == ("pending_approval", None)
    # The refusal is recorded in the tenant's chain: who tried, on which approval, and why.
    assert await admin_rows(admin_url, PAGE_RECORDS, s=seq) == [
        ("release_payment", "fred@acme", "page", "approval-page", approval_id, "refused", "not_required",
         f"approve refused on the approval page: approval {approval_id!r} is four_eyes: it must be decided by "
         "another person than its requester fred@acme; nothing changed"),
    ]  # fmt: skip


async def test_a_sign_in_older_than_the_bound_is_sent_to_sign_in_again(
    pages_stack: Stack, seeded: None, admin_url: str
) -> None:
    approval_id = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    url = pages_url(pages_stack, "payments", f"/{approval_id}")
    async with chromium() as browser:
        _, page, _ = await new_page(browser)
        await open_signed_in(page, url, "priya@acme")
        # Six minutes pass (the bound is five): the session, kept on the server, is aged there.
        await admin_execute(
            admin_url, "UPDATE payments.page_sessions SET auth_time = auth_time - interval '6 minutes' "
            "WHERE user_id = 'priya@acme'",
        )  # fmt: skip
        before = await snapshot(admin_url, "payments")
        authorize_requests: list[str] = []
        page.on(
            "request", lambda request: authorize_requests.append(request.url) if "/authorize" in request.url else None
        )
        await page.reload()
        await page.click("button[name=decision][value=approve]")
        await page.wait_for_selector("input[name=password]")  # the IdP asks for the password again
        assert await snapshot(admin_url, "payments") == before
        to_idp = [u for u in authorize_requests if "/authorize?" in u]
        assert any("prompt=login" in u and "max_age=300" in u for u in to_idp), to_idp
        await sign_in_at_idp(page, "priya@acme")
        assert page.url == url  # back on the approval, which is still pending
        await decide(page, "approve")
        assert "approved and executed by priya@acme" in await page.inner_text("main")
    assert await payment_row(admin_url, ACME_PENDING) == ("released", "fred@acme")


async def test_another_tenants_approval_gets_the_same_page_as_an_unknown_id(
    pages_stack: Stack, seeded: None, admin_url: str
) -> None:
    globex_id = await pending("payments", "gwen@globex", "release_payment", {"payment_id": GLOBEX_PAYMENTS[0]})
    unknown_id = "ap_" + "0" * 20
    before = await snapshot(admin_url, "payments")
    async with chromium() as browser:
        context, page, _ = await new_page(browser)
        await open_signed_in(page, pages_url(pages_stack, "payments"), "priya@acme")
        answers = {}
        for approval_id in (globex_id, unknown_id, "ap_not-even-an-id"):
            response = await page.goto(pages_url(pages_stack, "payments", f"/{approval_id}"))
            assert response is not None
            answers[approval_id] = (response.status, await page.content())
        assert answers[globex_id][0] == 404
        assert answers[globex_id] == answers[unknown_id] == answers["ap_not-even-an-id"]
        assert globex_id not in answers[globex_id][1]
        token = await page.input_value("input[name=csrf_token]")
        posted = await context.request.post(
            pages_url(pages_stack, "payments", f"/{globex_id}"),
            form={"csrf_token": token, "decision": "approve", "arguments_sha256": "x"},
        )
        assert posted.status == 404
    assert await snapshot(admin_url, "payments") == before
    assert await approval_row(admin_url, "payments", globex_id) == ("pending", None)


async def test_the_list_shows_only_what_the_person_may_decide_in_their_tenant(
    pages_stack: Stack, seeded: None, admin_url: str
) -> None:
    mine = await pending("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    theirs = await pending("payments", "gwen@globex", "release_payment", {"payment_id": GLOBEX_PAYMENTS[0]})
    async with chromium() as browser:
        _, page, _ = await new_page(browser)
        await open_signed_in(page, pages_url(pages_stack, "payments"), "priya@acme")
        listed = await page.inner_text("main")
        _, fred_page, _ = await new_page(browser)
        await open_signed_in(fred_page, pages_url(pages_stack, "payments"), "fred@acme")
        freds = await fred_page.inner_text("main")
    assert mine in listed and theirs not in listed
    assert mine not in freds  # the requester of a four-eyes approval cannot decide it: not his to decide
