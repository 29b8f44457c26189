"""`supplychain incident` contains a leak end to end: fred's token leaks, the attacker refreshes it and asks
for a four-eyes payment; after `incident token`, nothing the grant minted is accepted, the payment is held
(or void), the report lists every call, and a second run finds nothing left open. An approval whose
requester's grant was revoked ends void when a person approves it. A client-credentials client's leak
disables the client (its secret mints nothing, its tokens are refused, its payment is held) until
`supplychain idp rotate-client-secret`; `incident user` revokes every grant of the user."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import pytest
from securemcp.errors import ConflictError
from securemcp.identity.tokens import RevocationList

from deployment.registry import SERVERS
from idp.clients import add_service_client
from idp.revocations import RevocationStore
from idp.tokens import client_grant_id
from supplychain.admin import admin_engine
from supplychain.incident import respond
from tests.helpers import admin_rows, decide_as, decider, pending_approval_id
from tests.http.clients import mcp_client
from tests.http.rpc import call_tool
from tests.http.stack import Stack
from tests.http.tokens import claims_of, flow_token
from tests.payments.builders import ACME_PENDING

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


async def test_pending_cancel_voids_the_payment_with_one_operator_record_and_it_can_never_run(
    stack: Stack, engine: Any, admin_url: str, server_urls: dict[str, str]
) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        leaked, _, approval_id = await _leak_refresh_and_ask(stack, http)
    before = await admin_rows(admin_url, "SELECT status FROM payments.payments WHERE id = :i", i=ACME_PENDING)
    jti = claims_of(leaked["access_token"])["jti"]
    report = await respond(engine, SERVERS, jti, datetime.now(UTC), issuer=stack.idp.issuer, dev_idp=True,
                           pending="cancel")  # fmt: skip
    assert f"  payments  {approval_id} acme/fred@acme release_payment: void" in report.lines
    assert report.left_open == 0
    [(status, void_reason, decided_by)] = await admin_rows(
        admin_url, "SELECT status, void_reason, decided_by FROM payments.pending_approvals WHERE id = :i", i=approval_id
    )
    assert status == "void" and decided_by.startswith("operator") and jti in void_reason
    records = await admin_rows(
        admin_url,
        "SELECT actor_kind, client_id, user_id, decision, outcome, detail FROM payments.audit_log "
        "WHERE approval_id = :i AND client_id = 'operator' ORDER BY seq",
        i=approval_id,
    )
    assert [row[:5] for row in records] == [("cli", "operator", decided_by, "void", "refused")]
    assert records[0][5].startswith(f"void by the operator {decided_by}: ")
    assert records[0][5].endswith("; requested by fred@acme")
    # Voided is final: a second person's approval cannot run it, and the operator has no hold to release.
    with pytest.raises(ConflictError):
        await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")
    code, _ = await _incident_cli(stack, admin_url, "approvals", "release", approval_id, "--server", "payments")
    assert code == 1
    assert await admin_rows(admin_url, "SELECT status FROM payments.payments WHERE id = :i", i=ACME_PENDING) == before
    again = await respond(engine, SERVERS, jti, datetime.now(UTC), issuer=stack.idp.issuer, dev_idp=True,
                          pending="cancel")  # fmt: skip
    assert not any(approval_id in line for line in again.lines if line.startswith("  payments"))  # nothing pending


async def test_an_approval_asked_with_a_revoked_grant_ends_void_when_approved(
    stack: Stack, engine: Any, admin_url: str, server_urls: dict[str, str]
) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        leaked, fresh, approval_id = await _leak_refresh_and_ask(stack, http)
        await respond(engine, SERVERS, claims_of(leaked["access_token"])["jti"], datetime.now(UTC),
                      issuer=stack.idp.issuer, dev_idp=True)  # fmt: skip
        # The operator releases the hold (by mistake): the server's own re-check must still stop it.
        code, lines = await _incident_cli(stack, admin_url, "approvals", "release", approval_id, "--server", "payments")
        assert code == 0 and len(lines) == 1, lines
        assert lines[0].startswith(f"payments {approval_id} acme/fred@acme release_payment: released by operator")
        code, _ = await _incident_cli(stack, admin_url, "approvals", "release", approval_id, "--server", "payments")
        assert code == 1  # nothing held any more
        assert await admin_rows(
            admin_url,
            "SELECT actor_kind, client_id, decision, outcome, split_part(detail, ' ', 1) FROM payments.audit_log "
            "WHERE approval_id = :i AND client_id = 'operator' ORDER BY seq",
            i=approval_id,
        ) == [("cli", "operator", "pending", "ok", "held"), ("cli", "operator", "pending", "ok", "hold")]
        revocations = RevocationList(f"{stack.idp.issuer}/revocations", http)
        await revocations.fetch()
        before = await admin_rows(admin_url, "SELECT status FROM payments.payments WHERE id = :i", i=ACME_PENDING)
        # as the payments server's own page does, with the list its token verifier polls
        status = await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve", revocations)
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


async def _incident_cli(stack: Stack, admin_url: str, *args: str) -> tuple[int, list[str]]:
    """`supplychain incident ...` in another process, as an operator runs it: exit code and printed lines."""
    env = {
        **os.environ,
        "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url,
        "SUPPLYCHAIN_IDP_PORT": str(stack.idp.served.port),
    }
    command = [sys.executable, "-m", "supplychain.cli", *args]
    result = await anyio.run_process(command, check=False, env=env)
    return result.returncode, result.stdout.decode().splitlines()


async def _service_token(http: httpx2.AsyncClient, stack: Stack, client_id: str, secret: str) -> httpx2.Response:
    return await http.post(
        f"{stack.idp.issuer}/token",
        data={"grant_type": "client_credentials", "resource": stack.idp.settings.resources["payments"]},
        auth=(client_id, secret),
    )


async def test_a_leaked_client_secret_is_contained_and_rotating_it_gives_a_working_secret(
    stack: Stack, engine: Any, admin_url: str, server_urls: dict[str, str]
) -> None:
    start = datetime.now(UTC)
    client, secret = add_service_client(name="Payout bot", tenant="acme", roles=["finance"])
    grant = client_grant_id(client.secret_hash or "")
    async with httpx2.AsyncClient(timeout=10) as http:
        tokens = [(await _service_token(http, stack, client.client_id, secret)).json()["access_token"] for _ in "ab"]
        assert [claims_of(token)["grant_id"] for token in tokens] == [grant, grant]
        async with mcp_client(stack["payments"].url, tokens[0]) as mcp:
            approval_id = pending_approval_id(await mcp.call_tool("release_payment", {"payment_id": ACME_PENDING}))
        jtis = sorted(claims_of(token)["jti"] for token in tokens)

        report = await respond(engine, SERVERS, client.client_id, start, issuer=stack.idp.issuer, dev_idp=True)

        assert report.lines[:4] == [
            f"credential {client.client_id}: client; grants {grant}",
            f"revoked at {stack.idp.issuer}: client {client.client_id} disabled: no token until "
            "`supplychain idp rotate-client-secret`",
            f"revoked at {stack.idp.issuer}: 1 grant(s) revoked (2 unexpired access token(s))",
            "1 pending approval(s) it asked for (hold):",
        ]
        assert report.lines[4] == f"  payments  {approval_id} acme/{client.client_id} release_payment: held"
        assert any(f"release_payment ok [pending] token {claims_of(tokens[0])['jti']}" in x for x in report.lines)
        assert report.lines[-1] == "left open: nothing" and report.left_open == 0
        published = (await http.get(f"{stack.idp.issuer}/revocations")).json()
        assert set(jtis) <= set(published["revoked"]) and grant in published["revoked_grants"]

        refused = await _service_token(http, stack, client.client_id, secret)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
        for token in tokens:
            await _wait_until_refused(http, stack["payments"].url, token)
        with pytest.raises(ConflictError, match="held by the operator"):
            await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")
        assert await admin_rows(
            admin_url, "SELECT status, held_reason IS NOT NULL FROM payments.pending_approvals WHERE id = :i",
            i=approval_id,
        ) == [("pending", True)]  # fmt: skip

        code, lines = await _incident_cli(
            stack, admin_url, "incident", "token", client.client_id, "--since", "10m", "--issuer", stack.idp.issuer
        )
        assert code == 0 and lines[-1] == "left open: nothing", lines

        code, lines = await _incident_cli(stack, admin_url, "idp", "rotate-client-secret", client.client_id)
        assert code == 0 and lines[0] == f"client_id: {client.client_id}", lines
        new_secret = lines[1].removeprefix("client_secret: ")
        assert new_secret != secret
        minted = await _service_token(http, stack, client.client_id, new_secret)
        assert minted.status_code == 200, minted.text
        assert claims_of(minted.json()["access_token"])["grant_id"] != grant  # a new grant, not a revoked one
        assert (
            await call_tool(http, stack["payments"].url, minted.json()["access_token"], "list_payments")
        ).status_code == 200
        old = await _service_token(http, stack, client.client_id, secret)
        assert (old.status_code, old.json()["error"]) == (401, "invalid_client")


async def test_incident_user_revokes_every_grant_of_fred_and_holds_what_he_asked_for(
    stack: Stack, engine: Any, admin_url: str, server_urls: dict[str, str]
) -> None:
    start = datetime.now(UTC)
    async with httpx2.AsyncClient(timeout=10) as http:
        first = await flow_token(stack.idp, user="fred@acme", server="payments")  # his laptop
        second = await flow_token(stack.idp, user="fred@acme", server="payments")  # his phone
        bystander = await flow_token(stack.idp, user="gwen@globex", server="payments")
        async with mcp_client(stack["payments"].url, first["access_token"]) as mcp:
            approval_id = pending_approval_id(await mcp.call_tool("release_payment", {"payment_id": ACME_PENDING}))
        async with mcp_client(stack["payments"].url, second["access_token"]) as mcp:
            await mcp.call_tool("list_payments", {})
        grants = {claims_of(body["access_token"])["grant_id"] for body in (first, second)}
        store = RevocationStore()
        try:
            fred_grants = store.grants_of(subject="fred@acme")  # earlier tests' grants of fred included
        finally:
            store.close()
        assert grants <= set(fred_grants)

        report = await respond(engine, SERVERS, "fred@acme", start, issuer=stack.idp.issuer, dev_idp=True, as_user=True)

        assert report.lines[0] == f"credential fred@acme: user; grants {', '.join(fred_grants)}"
        assert report.lines[1].startswith(f"revoked at {stack.idp.issuer}: {len(fred_grants)} grant(s) revoked (")
        assert f"  payments  {approval_id} acme/fred@acme release_payment: held" in report.lines
        first_jti, second_jti = (claims_of(body["access_token"])["jti"] for body in (first, second))
        calls = [line for line in report.lines if " acme/fred@acme " in line and " token " in line]
        assert [line.split()[4:7] + line.split()[8:9] for line in calls] == [
            ["list_payments", "ok", "[not_required]", second_jti],
            ["release_payment", "ok", "[pending]", first_jti],
        ]
        assert report.lines[-1] == "left open: nothing" and report.left_open == 0

        store = RevocationStore()
        try:
            assert all(store.is_grant_revoked(grant) for grant in fred_grants)
        finally:
            store.close()
        for body in (first, second):
            await _wait_until_refused(http, stack["payments"].url, body["access_token"])
            refreshed = await _refresh(http, stack, body)
            assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")
        assert (
            await call_tool(http, stack["payments"].url, bystander["access_token"], "list_payments")
        ).status_code == 200
    with pytest.raises(ConflictError, match="held by the operator"):
        await decide_as(server_urls, "payments", decider("priya@acme"), approval_id, "approve")

    code, lines = await _incident_cli(
        stack, admin_url, "incident", "user", "fred@acme", "--since", "10m", "--issuer", stack.idp.issuer
    )
    assert code == 0, lines
    assert f"  payments  {approval_id} acme/fred@acme release_payment: held" in lines
    assert lines[-1] == "left open: nothing"


async def test_a_leaked_refresh_token_is_contained_and_named_only_by_its_digest(
    stack: Stack, engine: Any, admin_url: str
) -> None:
    """The playbook takes the refresh token itself, revokes its grant, and copies the secret nowhere:
    not into the report, the operator's hold on the approval, nor any audit record."""
    start = datetime.now(UTC)
    async with httpx2.AsyncClient(timeout=10) as http:
        _leaked, fresh, approval_id = await _leak_refresh_and_ask(stack, http)
        secret = fresh["refresh_token"]
        grant = claims_of(fresh["access_token"])["grant_id"]

        report = await respond(engine, SERVERS, secret, start, issuer=stack.idp.issuer, dev_idp=True)

        digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
        assert report.lines[0] == f"credential sha256:{digest}: refresh token; grants {grant}"
        assert f"  payments  {approval_id} acme/fred@acme release_payment: held" in report.lines
        assert not any(secret in line for line in report.lines)
        await _wait_until_refused(http, stack["payments"].url, fresh["access_token"])
        assert (await _refresh(http, stack, fresh)).status_code == 400
    stored = await admin_rows(
        admin_url,
        "SELECT count(*) FROM payments.pending_approvals WHERE held_reason LIKE :s OR arguments::text LIKE :s",
        s=f"%{secret}%",
    )
    recorded = await admin_rows(
        admin_url,
        "SELECT count(*) FROM payments.audit_log WHERE detail LIKE :s OR arguments::text LIKE :s",
        s=f"%{secret}%",
    )
    assert stored == recorded == [(0,)]
