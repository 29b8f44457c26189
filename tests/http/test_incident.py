"""`supplychain incident token`: a token that made calls over real HTTP has its grant revoked at the dev IdP
(its next call gets 401), the listing is exactly its calls, newest first, and a replacement with the same
scopes is printed; a client is disabled and its grants, refresh tokens included, are revoked together; with
another IdP nothing is revoked here and the report says what is left open."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import httpx2
import pytest

from deployment.registry import SERVERS
from idp.revocations import RevocationStore
from supplychain.admin import admin_engine
from supplychain.incident import respond
from tests.http.clients import mcp_client
from tests.http.expect import assert_unauthorized
from tests.http.rpc import call_tool
from tests.http.stack import Server, Stack
from tests.http.tokens import claims_of, flow_token, mint

pytestmark = pytest.mark.usefixtures("seeded")

STOCK = {"sku": "BOLT-M8", "warehouse": "AMS-1"}


async def _status(http: httpx2.AsyncClient, server: Server, token: str) -> int:
    return (await call_tool(http, server.url, token, "list_warehouses")).status_code


async def _wait_until_refused(http: httpx2.AsyncClient, server: Server, token: str) -> None:
    """Poll until the server has fetched the new revocation list (every second; its staleness bound is 5 s)."""
    deadline = time.monotonic() + 10
    while await _status(http, server, token) != 401:
        assert time.monotonic() < deadline, "the revoked token is still accepted"
        await anyio.sleep(0.05)


@pytest.fixture
async def engine(admin_url: str) -> AsyncIterator[object]:
    engine = admin_engine(admin_url)
    yield engine
    await engine.dispose()


async def test_incident_revokes_the_token_lists_exactly_its_calls_and_prints_a_replacement(
    stack: Stack, engine: object
) -> None:
    inventory = stack["inventory"]
    start = datetime.now(UTC)
    leaked = await flow_token(stack.idp, user="alice@acme", server="inventory", scope="inventory:read")
    token, jti = leaked["access_token"], claims_of(leaked["access_token"])["jti"]
    other = mint(stack.idp, user="alice@acme", server="inventory")  # the same user's other token
    async with mcp_client(inventory.url, token) as client:
        await client.call_tool("list_warehouses", {})
        await client.call_tool("get_stock_level", STOCK)
        await client.call_tool("get_stock_level", {"sku": "NOPE-1", "warehouse": "AMS-1"})
    async with mcp_client(inventory.url, other) as client:
        await client.call_tool("list_stock_levels", {})
    async with mcp_client(stack["returns"].url, mint(stack.idp, user="rita@acme", server="returns")) as client:
        await client.call_tool("list_returns", {})

    report = await respond(engine, SERVERS, jti, start, issuer=stack.idp.issuer, dev_idp=True)  # type: ignore[arg-type]

    lines, grant = report.lines, claims_of(token)["grant_id"]
    assert lines[0] == f"credential {jti}: access token; grants {grant}"
    assert lines[1] == f"revoked at {stack.idp.issuer}: 1 grant(s) revoked (1 unexpired access token(s))"
    assert lines[2] == "0 pending approval(s) it asked for (hold):"
    assert lines[3].startswith(f"3 call(s) on {', '.join(SERVERS)} since ")  # every registered server is searched
    listed = lines[4:7]
    assert [line.split()[3:6] for line in listed] == [
        ["acme/alice@acme", "get_stock_level", "error"],
        ["acme/alice@acme", "get_stock_level", "ok"],
        ["acme/alice@acme", "list_warehouses", "ok"],
    ]
    assert all(f"token {jti} from 127.0.0.1" in line for line in listed)
    assert lines[7:] == [
        "mint a replacement with the same scopes:",
        "  uv run supplychain idp token --user alice@acme --server inventory --scope inventory:read",
        "left open: nothing",
    ]
    assert report.left_open == 0
    async with httpx2.AsyncClient(timeout=10) as http:
        await _wait_until_refused(http, inventory, token)
        assert_unauthorized(await call_tool(http, inventory.url, token, "list_warehouses"), inventory)
        assert await _status(http, inventory, other) == 200  # only the leaked token is gone


async def test_incident_by_client_revokes_its_refresh_tokens(stack: Stack, engine: object) -> None:
    start = datetime.now(UTC)
    leaked = await flow_token(stack.idp, user="ana@acme", server="logistics", scope="logistics:read")
    async with mcp_client(stack["logistics"].url, leaked["access_token"]) as client:
        await client.call_tool("list_carriers", {})
    client_id, jti = leaked["client_id"], claims_of(leaked["access_token"])["jti"]
    grant = claims_of(leaked["access_token"])["grant_id"]
    report = await respond(engine, SERVERS, client_id, start, issuer=stack.idp.issuer, dev_idp=True)  # type: ignore[arg-type]
    assert report.lines[:3] == [
        f"credential {client_id}: client; grants {grant}",
        f"revoked at {stack.idp.issuer}: client {client_id} disabled: no token until "
        "`supplychain idp rotate-client-secret`",
        f"revoked at {stack.idp.issuer}: 1 grant(s) revoked (1 unexpired access token(s))",
    ]
    assert any(f"list_carriers ok [not_required] token {jti}" in line for line in report.lines)
    assert report.lines[-1] == "left open: nothing" and report.left_open == 0
    async with httpx2.AsyncClient(timeout=10) as http:
        refreshed = await http.post(
            f"{stack.idp.issuer}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": leaked["refresh_token"],
                "client_id": leaked["client_id"],
            },
        )
        # The client is disabled: it cannot even authenticate to refresh.
        assert refreshed.status_code == 401 and refreshed.json()["error"] == "invalid_client"
        await _wait_until_refused(http, stack["logistics"], leaked["access_token"])
    store = RevocationStore()  # and its refresh tokens are dead on their own, should the client come back
    try:
        assert store.is_grant_revoked(grant) and store.client_revoked_at(client_id) is not None
    finally:
        store.close()


async def test_with_another_idp_it_says_what_to_revoke_there_and_revokes_nothing(stack: Stack, engine: object) -> None:
    token = mint(stack.idp, user="bob@globex", server="inventory")
    jti = claims_of(token)["jti"]
    report = await respond(engine, SERVERS, jti, datetime.now(UTC), issuer="https://login.example.com", dev_idp=False)  # type: ignore[arg-type]
    assert report.lines[:5] == [
        f"credential {jti}: token; tokens {jti}",
        "NOT DONE: the servers trust https://login.example.com, not the dev authorization server: revoke there, "
        "for example",
        f"NOT DONE:   - the access token with jti {jti} (your IdP's console or admin API)",
        "NOT DONE:   servers refuse a revoked token only if your IdP publishes a revocation list they poll",
        "NOT DONE:   (metadata `supplychain_revocation_list_uri`); otherwise it works until it expires.",
    ]
    assert report.lines[-1] == "left open: 1" and report.left_open == 1
    async with httpx2.AsyncClient(timeout=10) as http:
        revocations = (await http.get(f"{stack.idp.issuer}/revocations")).json()["revoked"]
    assert jti not in revocations


async def test_the_command_revokes_from_another_process(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    leaked = await flow_token(stack.idp, user="bob@globex", server="inventory", scope="inventory:read")
    jti = claims_of(leaked["access_token"])["jti"]
    async with mcp_client(inventory.url, leaked["access_token"]) as client:
        await client.call_tool("list_warehouses", {})
    command = [
        sys.executable,
        "-m",
        "supplychain.cli",
        "incident",
        "token",
        jti,
        "--since",
        "10m",
        "--issuer",
        stack.idp.issuer,
    ]
    env = {
        **os.environ,
        "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url,
        "SUPPLYCHAIN_IDP_PORT": str(stack.idp.served.port),
    }
    result = await anyio.run_process(command, check=False, env=env)
    output = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert f"revoked at {stack.idp.issuer}: 1 grant(s) revoked (1 unexpired access token(s))" in output
    assert f"1 call(s) on {', '.join(SERVERS)} since" in output
    assert "globex/bob@globex list_warehouses ok [not_required]" in output
    assert "uv run supplychain idp token --user bob@globex --server inventory --scope inventory:read" in output
    assert output.splitlines()[-1] == "left open: nothing"
    async with httpx2.AsyncClient(timeout=10) as http:
        await _wait_until_refused(http, inventory, leaked["access_token"])
