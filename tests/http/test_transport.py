"""Streamable HTTP hardening: Origin and Host allow-lists, body limit, tokens in the query string,
per-tenant rate limit, legacy sessions bound to their user, and the session cap.

Host and Origin are checked first, before the token (`securemcp.http.guards.HostOriginGuard`): a bad Host gets
421 and a disallowed Origin 403 with or without a valid token, on every path.
"""

from __future__ import annotations

import anyio
import httpx2
import pytest
from securemcp.http.guards import TokenInQueryGuard, names_a_token
from starlette.types import Message, Receive, Scope, Send

from tests.helpers import snapshot
from tests.http.conftest import ExtraServer
from tests.http.expect import assert_unauthorized
from tests.http.rpc import LEGACY, bearer, call_tool, initialize, list_tools, result_of, session_call
from tests.http.stack import Stack
from tests.http.tokens import mint

SESSION_NOT_FOUND = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}


def alice(stack: Stack, audience: str | None = None) -> str:
    return mint(stack.idp, user="alice@acme", server="inventory", audience=audience)


async def test_a_disallowed_origin_is_refused_with_403(stack: Stack) -> None:
    inventory = stack["inventory"]
    async with httpx2.AsyncClient(timeout=10) as http:
        for origin in ("http://evil.example", "null", inventory.origin):  # none is on the (empty) allow-list
            response = await list_tools(http, inventory.url, alice(stack), headers={"Origin": origin})
            assert (response.status_code, response.text) == (403, "Invalid Origin header")
        without_token = await list_tools(http, inventory.url, None, headers={"Origin": "http://evil.example"})
        assert (without_token.status_code, without_token.text) == (403, "Invalid Origin header")
        metadata = await http.get(inventory.metadata_url, headers={"Origin": "http://evil.example"})
        assert (metadata.status_code, metadata.text) == (403, "Invalid Origin header")
        assert result_of(await list_tools(http, inventory.url, alice(stack)))[
            "tools"
        ]  # no Origin: a non-browser client


async def test_an_allowed_origin_is_served(stack: Stack, extra_server: ExtraServer) -> None:
    with extra_server("inventory", allowed_origins=["http://localhost:6274"]) as inventory:
        async with httpx2.AsyncClient(timeout=10) as http:
            token = alice(stack, inventory.url)
            allowed = await list_tools(http, inventory.url, token, headers={"Origin": "http://localhost:6274"})
            other = await list_tools(http, inventory.url, token, headers={"Origin": "http://localhost:6275"})
    assert result_of(allowed)["tools"]
    assert (other.status_code, other.text) == (403, "Invalid Origin header")


async def test_a_disallowed_host_is_refused_with_421(stack: Stack) -> None:
    inventory = stack["inventory"]
    async with httpx2.AsyncClient(timeout=10) as http:
        for host in ("evil.example", f"evil.example:{inventory.settings.listen_port}", "127.0.0.1:1"):
            response = await list_tools(http, inventory.url, alice(stack), headers={"Host": host})
            assert (response.status_code, response.text) == (421, "Invalid Host header")
        without_token = await list_tools(http, inventory.url, None, headers={"Host": "evil.example"})
        assert (without_token.status_code, without_token.text) == (421, "Invalid Host header")
        for host in (f"localhost:{inventory.settings.listen_port}", f"127.0.0.1:{inventory.settings.listen_port}"):
            assert result_of(await list_tools(http, inventory.url, alice(stack), headers={"Host": host}))["tools"]


@pytest.mark.parametrize(
    "exposure", [{"behind_gateway": True}, {"behind_gateway": True, "public_url": "https://mcp.example.com/mcp"}]
)
async def test_host_is_enforced_when_bound_to_all_interfaces(
    stack: Stack, extra_server: ExtraServer, exposure: dict[str, object]
) -> None:
    """With host 0.0.0.0 the SDK would switch its own check off; ours is an explicit allow-list."""
    with extra_server("inventory", host="0.0.0.0", **exposure) as inventory:  # noqa: S104
        token = alice(stack, inventory.url)
        async with httpx2.AsyncClient(timeout=10) as http:
            local = inventory.local_url
            refused = await list_tools(http, local, token, headers={"Host": "evil.example"})
            assert (refused.status_code, refused.text) == (421, "Invalid Host header")
            origin = await list_tools(http, local, token, headers={"Origin": "http://evil.example"})
            assert (origin.status_code, origin.text) == (403, "Invalid Origin header")
            assert result_of(await list_tools(http, local, token))["tools"]
            if "public_url" in exposure:  # what the gateway forwards
                assert result_of(await list_tools(http, local, token, headers={"Host": "mcp.example.com"}))["tools"]


async def test_an_oversized_body_is_refused_with_413(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    limit = inventory.settings.max_body_bytes
    assert limit == 1024 * 1024  # the default
    padding = "x" * limit
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(
            http,
            inventory.url,
            alice(stack),
            "create_reorder",
            {"sku": "BOLT-M8", "warehouse": "RTM-2", "quantity": 1, "note": padding},
        )
        assert (response.status_code, response.json()) == (413, {"error": "request body too large"})
        # Just under the limit is read and judged on its content (an unknown argument: a tool error).
        small = await call_tool(http, inventory.url, alice(stack), "list_warehouses", {"note": "x" * (limit - 1024)})
        assert result_of(small)["isError"] is True
        # Without a token the body is not even read.
        assert_unauthorized(await http.post(inventory.url, content=b"x" * (limit + 1)), inventory)
    assert await snapshot(admin_url, "inventory") == before


async def test_a_tiny_body_limit_is_honoured(stack: Stack, extra_server: ExtraServer) -> None:
    with extra_server("inventory", max_body_bytes=1024) as inventory:
        async with httpx2.AsyncClient(timeout=10) as http:
            token = alice(stack, inventory.url)
            big = await call_tool(http, inventory.url, token, "list_warehouses", {"cursor": "x" * 1024})
            assert (big.status_code, big.json()) == (413, {"error": "request body too large"})
            assert result_of(await call_tool(http, inventory.url, token, "list_warehouses"))["isError"] is False


async def test_a_token_in_the_query_string_is_refused_with_400(stack: Stack) -> None:
    inventory = stack["inventory"]
    token = alice(stack)
    expected = {"error": "invalid_request", "error_description": "tokens go in the Authorization header only"}
    async with httpx2.AsyncClient(timeout=10) as http:
        for url in (inventory.url, inventory.metadata_url):
            response = await http.get(url, params={"access_token": token})
            assert (response.status_code, response.json()) == (400, expected)
        # Even alongside a valid header: the request is malformed.
        posted = await http.post(inventory.url, params={"access_token": token}, json={}, headers=bearer(token))
        assert (posted.status_code, posted.json()) == (400, expected)
        # Every spelling a decoder behind us might read as `access_token`, with or without a valid header.
        for spelling in ENCODED_TOKEN_NAMES:
            for headers in ({}, bearer(token)):
                response = await http.post(f"{inventory.url}?{spelling}={token}", json={}, headers=headers)
                assert (response.status_code, response.json()) == (400, expected), spelling


ENCODED_TOKEN_NAMES = ["access%5Ftoken", "access%5ftoken", "%61ccess_token", "access_toke%6E", "access%255Ftoken",
                       "ACCESS_TOKEN", "x=1&access%5Ftoken"]  # fmt: skip


@pytest.mark.parametrize("spelling", [*ENCODED_TOKEN_NAMES, "access_token%3D"])
async def test_the_guard_blanks_the_query_before_anything_can_log_it(spelling: str) -> None:
    seen: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("a request with a token in its query reached the app")

    async def send(message: Message) -> None:
        seen.append(message.get("body", b""))

    scope = {"type": "http", "method": "GET", "path": "/mcp", "query_string": f"{spelling}=at-secret-1".encode(),
             "headers": []}  # fmt: skip
    await TokenInQueryGuard(app)(scope, _no_body, send)
    assert scope["query_string"] == b"REDACTED"  # what uvicorn's access log prints
    assert b"at-secret-1" not in b"".join(seen) and b"invalid_request" in seen[-1]


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def test_only_a_token_parameter_is_refused() -> None:
    assert not names_a_token(b"cursor=abc%3D%3D&q=100%25")
    assert names_a_token(b"access%2525255Ftoken=x") is False  # four levels of encoding: no decoder goes so far
    assert names_a_token(b"access%25255Ftoken=x")


async def test_one_tenants_flood_gets_429_while_the_other_tenant_is_served(
    stack: Stack, extra_server: ExtraServer
) -> None:
    with extra_server("inventory", rate_limit="5/minute") as inventory:
        acme = alice(stack, inventory.url)
        ana = mint(stack.idp, user="ana@acme", server="inventory", audience=inventory.url)
        globex = mint(stack.idp, user="bob@globex", server="inventory", audience=inventory.url)
        async with httpx2.AsyncClient(timeout=10) as http:
            statuses = [(await list_tools(http, inventory.url, acme)).status_code for _ in range(5)]
            flooded = await list_tools(http, inventory.url, acme)
            same_tenant = await call_tool(http, inventory.url, ana, "list_warehouses")
            other_tenant = [await call_tool(http, inventory.url, globex, "list_warehouses") for _ in range(3)]
    assert statuses == [200] * 5
    assert flooded.status_code == 429
    assert 1 <= int(flooded.headers["retry-after"]) <= 60
    assert flooded.json() == {
        "error": "rate_limited",
        "error_description": "tenant request limit 5 per 1 minute reached",
    }
    assert same_tenant.status_code == 429  # the limit is the tenant's, whoever in it asks
    assert [result_of(response)["isError"] for response in other_tenant] == [False] * 3


async def test_a_session_id_is_bound_to_the_user_who_opened_it(stack: Stack) -> None:
    inventory = stack["inventory"]
    owner = alice(stack)
    same_tenant = mint(stack.idp, user="ana@acme", server="inventory")
    other_tenant = mint(stack.idp, user="bob@globex", server="inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        opened = await initialize(http, inventory.url, owner)
        session = opened.headers["mcp-session-id"]
        assert len(session) == 32 and int(session, 16) >= 0  # 128 random bits, hex
        for intruder in (other_tenant, same_tenant):
            refused = await session_call(http, inventory.url, intruder, session, "list_warehouses", {})
            # Answered exactly like an unknown session: nothing tells the intruder it exists.
            assert (refused.status_code, refused.json()) == (404, SESSION_NOT_FOUND)
        unknown = await session_call(http, inventory.url, owner, "0" * 32, "list_warehouses", {})
        assert (unknown.status_code, unknown.json()) == (404, SESSION_NOT_FOUND)
        served = await session_call(http, inventory.url, owner, session, "list_warehouses", {})
        assert result_of(served)["isError"] is False
        # Without any token the session id is worth nothing either.
        assert_unauthorized(await session_call(http, inventory.url, None, session, "list_warehouses", {}), inventory)


async def test_sessions_are_capped_in_number(stack: Stack, extra_server: ExtraServer) -> None:
    with extra_server("inventory", max_sessions=1) as inventory:
        token = alice(stack, inventory.url)
        async with httpx2.AsyncClient(timeout=10) as http:
            first = await initialize(http, inventory.url, token)
            assert first.status_code == 200
            second = await initialize(http, inventory.url, token)
            assert (second.status_code, second.json()) == (
                503,
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": "Too many open sessions"}},
            )
            # Sessionless (2026-07-28) requests are not affected by the cap.
            assert result_of(await list_tools(http, inventory.url, token))["tools"]
            closed = await http.delete(
                inventory.url,
                headers={
                    "Mcp-Session-Id": first.headers["mcp-session-id"],
                    "MCP-Protocol-Version": LEGACY,
                    **bearer(token),
                },
            )
            assert closed.status_code == 200
            assert (await initialize(http, inventory.url, token)).status_code == 200


async def test_idle_sessions_expire(stack: Stack, extra_server: ExtraServer) -> None:
    with extra_server("inventory", session_idle_timeout_seconds=0.5) as inventory:
        token = alice(stack, inventory.url)
        async with httpx2.AsyncClient(timeout=10) as http:
            session = (await initialize(http, inventory.url, token)).headers["mcp-session-id"]
            assert result_of(await session_call(http, inventory.url, token, session, "list_warehouses", {}))
            await anyio.sleep(1.5)  # no request meanwhile: any request would keep the session alive
            expired = await session_call(http, inventory.url, token, session, "list_warehouses", {})
            assert (expired.status_code, expired.json()) == (404, SESSION_NOT_FOUND)
