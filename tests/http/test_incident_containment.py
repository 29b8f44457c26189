"""`supplychain incident` contains a leak end to end: fred's token leaks, the attacker refreshes it and asks
for a four-eyes payment; after `incident token`, nothing the grant minted is accepted, the payment is held
(or void), the report lists every call, and a second run finds nothing left open. An approval whose
requester's grant was revoked ends void when a person approves it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import pytest
from securemcp.approvals.recheck import register_revocations
from securemcp.errors import ConflictError
from securemcp.identity.tokens import RevocationList

from deployment.registry import SERVERS
from supplychain.admin import admin_engine
from supplychain.incident import respond
from tests.helpers import admin_execute, admin_rows, decide_as, decider, pending_approval_id
from tests.http.clients import mcp_client
from tests.http.rpc import call_tool
from tests.http.stack import Stack
from tests.http.tokens import claims_of, flow_token
from tests.payments.fixture_ids import ACME_PENDING

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
async def engine(admin_url: str) -> AsyncIterator[Any]:
    engine = admin_engine(admin_url)
    yield engine
    await engine.dispose()


async def _refresh(http: httpx2.AsyncClient, stack: Stack, leaked: dict[str, Any]) -> httpx2.Response:
    return await http.post(
        f"{stack.idp.issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": leaked["refresh_token"],
              "client_id": leaked["client_id"], "resource": stack.idp.settings.resources["payments"]},
    )  # fmt: skip


async def _wait_until_refused(http: httpx2.AsyncClient, url: str, token: str) -> None:
    deadline = time.monotonic() + 10
    while (await call_tool(http, url, token, "list_payments")).status_code != 401:
        assert time.monotonic() < deadline, "a token of the revoked grant is still accepted"
        await anyio.sleep(0.05)


async def _leak_refresh_and_ask(stack: Stack, http: httpx2.AsyncClient) -> tuple[dict[str, Any], dict[str, Any], str]:
    """fred's token leaks; the attacker refreshes it and asks for a four-eyes payment with the fresh token."""
    leaked = await flow_token(stack.idp, user="fred@acme", server="payments")
    refreshed = await _refresh(http, stack, leaked)
    assert refreshed.status_code == 200, refreshed.text
    fresh = {**refreshed.json(), "client_id": leaked["client_id"]}
    async with mcp_client(stack["payments"].url, fresh["access_token"]) as client:
        result = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    assert result.structured_content is not None and result.structured_content["level"] == "four_eyes"
    return leaked, fresh, pending_approval_id(result)


async def test_a_leaked_token_is_contained_with_its_grant_and_its_pending_payment_is_held(
    stack: Stack, engine: Any, admin_url: str, server_urls: dict[str, str]
) -> None:
    start = datetime.now(UTC)
    async with httpx2.AsyncClient(timeout=10) as http:
        leaked, fresh, approval_id = await _leak_refresh_and_ask(stack, http)
        jti, fresh_jti = claims_of(leaked["access_token"])["jti"], claims_of(fresh["access_token"])["jti"]
        grant = claims_of(leaked["access_token"])["grant_id"]
        assert claims_of(fresh["access_token"])["grant_id"] == grant

        report = await respond(engine, SERVERS, jti, start, issuer=stack.idp.issuer, dev_idp=True)

        assert report.lines[0] == f"credential {jti}: access token; grants {grant}"
        assert report.lines[1] == f"revoked at {stack.idp.issuer}: 1 grant(s) revoked (2 unexpired access token(s))"
        assert f"  payments  {approval_id} acme/fred@acme release_payment: held" in report.lines
        assert any(f"release_payment ok [pending] token {fresh_jti}" in line for line in report.lines)
        assert report.lines[-1] == "left open: nothing" and report.left_open == 0
        for token in (leaked["access_token"], fresh["access_token"]):
            await _wait_until_refused(http, stack["payments"].url, token)
        again = await _refresh(http, stack, fresh)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    with pytest.raises(ConflictError, match="held by the operator"):
        await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")
    assert await admin_rows(
        admin_url, "SELECT status, held_reason IS NOT NULL FROM payments.pending_approvals WHERE id = :i", i=approval_id
    ) == [("pending", True)]
    second = await respond(engine, SERVERS, jti, start, issuer=stack.idp.issuer, dev_idp=True)
    assert second.left_open == 0 and f"  payments  {approval_id} acme/fred@acme release_payment: held" in second.lines


async def test_an_approval_asked_with_a_revoked_grant_ends_void_when_approved(
    stack: Stack, engine: Any, admin_url: str, server_urls: dict[str, str]
) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        leaked, fresh, approval_id = await _leak_refresh_and_ask(stack, http)
        await respond(engine, SERVERS, claims_of(leaked["access_token"])["jti"], datetime.now(UTC),
                      issuer=stack.idp.issuer, dev_idp=True)  # fmt: skip
        # The operator releases the hold (by mistake): the server's own re-check must still stop it.
        await admin_execute(admin_url, "UPDATE payments.pending_approvals SET held_reason = NULL WHERE id = :i",
                            i=approval_id)  # fmt: skip
        revocations = RevocationList(f"{stack.idp.issuer}/revocations", http)
        await revocations.fetch()
        register_revocations("payments", revocations)  # as the payments server's own page does
        before = await admin_rows(admin_url, "SELECT status FROM payments.payments WHERE id = :i", i=ACME_PENDING)
        status = await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")
    fresh_jti = claims_of(fresh["access_token"])["jti"]
    assert status.status == "void"
    assert status.void_reason == f"the credential fred@acme asked with was revoked (token {fresh_jti})"
    assert await admin_rows(admin_url, "SELECT status FROM payments.payments WHERE id = :i", i=ACME_PENDING) == before
    assert await admin_rows(
        admin_url,
        "SELECT decision, outcome, token_id FROM payments.audit_log WHERE approval_id = :i AND client_id = "
        "'approval-page'",
        i=approval_id,
    ) == [("void", "refused", fresh_jti)]
