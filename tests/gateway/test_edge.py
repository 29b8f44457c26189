"""The edge matrix: what HAProxy refuses before any server sees it, with the exact answer.

"Never reached a server" is read from the access log: HAProxy writes `<NOSRV>` as the server of a
request it answered itself. The hostile tokens are the phase 2 list (tests/http/test_hostile_tokens.py);
the ones the edge does not check itself (`iat`, an uppercase tenant) are refused by the server behind
it with the same challenge: defense in depth.
"""

from __future__ import annotations

import json
import re

import httpx2
import pytest

from idp.tokens import Subject
from tests.gateway.conftest import ALLOWED_ORIGIN, FLOOD_LIMIT, Edge
from tests.helpers import admin_rows, snapshot
from tests.http.rpc import call_tool, list_tools, result_of
from tests.http.test_hostile_tokens import HOSTILE, REORDER, edited, now
from tests.http.test_transport import ENCODED_TOKEN_NAMES

pytestmark = pytest.mark.haproxy

UNAUTHORIZED_BODY = {"error": "invalid_token", "error_description": "Authentication required"}
CHECKED_BY_THE_SERVER_ONLY = {"no_iat", "uppercase_tenant_id"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MINTED_ID = re.compile(r"[0-9a-f]{16}")  # securemcp.observability.request_id.new_request_id


def assert_challenge(response: httpx2.Response, edge: Edge, server: str = "inventory") -> None:
    """401 with the challenge that sends an MCP client to the server's metadata through the gateway."""
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="Authentication required", '
        f'scope="{server}:read", resource_metadata="{edge.metadata_url(server)}"'
    )
    assert response.json() == UNAUTHORIZED_BODY


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_hostile_token_gets_the_challenge_and_changes_nothing(kind: str, edge: Edge, admin_url: str) -> None:
    token = HOSTILE[kind](edge.idp)  # type: ignore[arg-type]  # the same Idp type the phase 2 list takes
    before_rows = await snapshot(admin_url, "inventory")
    before = edge.mark()
    async with edge.http() as http:
        response = await call_tool(http, edge.url("inventory"), token, "create_reorder", REORDER)
    assert_challenge(response, edge)
    (line,) = edge.new_log_lines(before)
    if kind in CHECKED_BY_THE_SERVER_ONLY:
        assert " be_inventory/inventory-" in line, line
    else:
        assert " fe_mcp/<NOSRV> " in line and " 401 " in line, line
    assert await snapshot(admin_url, "inventory") == before_rows


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [({"nbf": +10}, True), ({"nbf": +40}, False), ({"exp": +5}, True), ({"exp": -5}, False)],
    ids=["valid_in_10s", "valid_in_40s", "expires_in_5s", "expired_5s_ago"],
)
async def test_edge_clock_rules_match_the_servers(changes: dict[str, int], accepted: bool, edge: Edge) -> None:
    """`nbf` gets 30 s of leeway at the edge as at the servers; `exp` none."""
    token = edited(edge.idp, **{claim: now() + offset for claim, offset in changes.items()})  # type: ignore[arg-type]
    before = edge.mark()
    async with edge.http() as http:
        response = await call_tool(http, edge.url("inventory"), token, "list_warehouses")
    if accepted:
        assert result_of(response)["isError"] is False
    else:
        assert_challenge(response, edge)
        assert " fe_mcp/<NOSRV> " in edge.new_log_lines(before)[0]


async def test_metadata_is_routed_without_a_token_and_names_the_public_url(edge: Edge) -> None:
    async with edge.http() as http:
        response = await http.get(edge.metadata_url("inventory"))
    assert response.status_code == 200, response.text
    assert response.json()["resource"] == edge.url("inventory")
    assert response.json()["authorization_servers"] == [edge.idp.issuer]


@pytest.mark.parametrize(
    "path",
    ["/", "/mcp", "/healthz", "/inventory/healthz", "/inventory/mcp/extra", "/inventory", "/billing/mcp",
     "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server"],
)  # fmt: skip
async def test_unknown_path_is_404_at_the_edge(path: str, edge: Edge) -> None:
    before = edge.mark()
    async with edge.http() as http:
        response = await http.post(f"{edge.gateway.settings.public_url}{path}", json={})
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}
    assert " fe_mcp/<NOSRV> " in edge.new_log_lines(before)[0]


async def test_disallowed_origin_is_403_and_an_allowed_one_passes(edge: Edge) -> None:
    token = edge.token("alice@acme")
    async with edge.http() as http:
        before = edge.mark()
        refused = await list_tools(http, edge.url("inventory"), token, headers={"Origin": "https://evil.example"})
        refused_lines = edge.new_log_lines(before)
        allowed = await list_tools(http, edge.url("inventory"), token, headers={"Origin": ALLOWED_ORIGIN})
    assert refused.status_code == 403
    assert refused.json() == {"error": "forbidden", "error_description": "Origin not allowed"}
    assert len(refused_lines) == 1 and " fe_mcp/<NOSRV> " in refused_lines[0], refused_lines  # no server saw it
    assert result_of(allowed)["tools"]


async def test_body_over_one_mebibyte_is_413_before_any_server(edge: Edge) -> None:
    token = edge.token("alice@acme")
    before = edge.mark()
    async with edge.http() as http:
        response = await http.post(
            edge.url("inventory"),
            content=b"{" + b" " * (1024 * 1024) + b"}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json() == {"error": "request body too large"}
    lines = edge.new_log_lines(before)
    assert len(lines) == 1, lines
    assert " fe_mcp/<NOSRV> " in lines[0] and " 413 " in lines[0], lines


@pytest.mark.parametrize("spelling", ["access_token", *ENCODED_TOKEN_NAMES, "access_token%3D"])
async def test_token_in_the_query_string_is_refused_at_the_edge(spelling: str, edge: Edge) -> None:
    token = edge.token("alice@acme")
    before = edge.mark()
    async with edge.http() as http:
        response = await http.post(f"{edge.url('inventory')}?{spelling}={token}", json={})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "tokens go in the Authorization header only",
    }
    lines = edge.new_log_lines(before)
    assert len(lines) == 1, lines  # the request was logged, refused at the edge, and the log holds no token
    assert " fe_mcp/<NOSRV> " in lines[0] and token not in lines[0] and "?" not in lines[0], lines


async def test_the_gateway_replaces_a_clients_request_id(edge: Edge, admin_url: str) -> None:
    """A client's X-Request-Id never reaches a server: the gateway sends its own id (`rid` in its log),
    which the server keeps only as `client_request_id` in its logs, next to its own id, the one the
    response and the audit record carry. Read from the replica's own log (uvicorn's access line)."""
    chosen = "chosen-by-client-7"
    token = edge.token("alice@acme")
    last = (await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log"))[0][0]
    before = edge.mark()
    async with edge.http() as http:
        response = await call_tool(http, edge.url("inventory"), token, "list_warehouses",
                                   headers={"X-Request-Id": chosen})  # fmt: skip
    assert result_of(response)["isError"] is False
    server_id = response.headers["x-request-id"]
    assert MINTED_ID.fullmatch(server_id), server_id  # the server's own
    records = await admin_rows(admin_url, "SELECT request_id FROM inventory.audit_log WHERE seq > :s", s=last)
    assert records == [(server_id,)]
    (line,) = edge.new_log_lines(before)
    gateway_id = re.search(r' rid="([^"]*)" ', line)
    assert gateway_id is not None and UUID.fullmatch(gateway_id[1]), line
    assert chosen not in line, line
    # What the server saw: its records of this request name the gateway's id as the caller's, never the client's.
    logs = edge.server_log_records("inventory")
    mine = [record for record in logs if record.get("request_id") == server_id]
    assert any(record["logger"] == "uvicorn.access" for record in mine), mine
    assert {record.get("client_request_id") for record in mine} == {gateway_id[1]}, mine
    assert not [record for record in logs if chosen in json.dumps(record)]
    stored = await admin_rows(
        admin_url, "SELECT count(*) FROM inventory.audit_log WHERE request_id = :c OR arguments::text LIKE :p",
        c=chosen, p=f"%{chosen}%",
    )  # fmt: skip
    assert stored == [(0,)]


async def test_one_tenant_flooding_gets_429_while_another_keeps_200(edge: Edge) -> None:
    flooder = Subject(sub="bot@flood-test", tenant_id="flood-test", roles=("analyst",))
    flood_token = edge.token(flooder.sub, subject=flooder)
    globex_token = edge.token("bob@globex")
    flood_statuses, globex_statuses = [], []
    async with edge.http() as http:
        for _ in range(FLOOD_LIMIT * 2):
            flood = await list_tools(http, edge.url("inventory"), flood_token)
            flood_statuses.append(flood.status_code)
            globex = await call_tool(http, edge.url("inventory"), globex_token, "list_warehouses")
            globex_statuses.append(globex.status_code)
    assert flood_statuses == [200] * FLOOD_LIMIT + [429] * FLOOD_LIMIT
    assert flood.headers["retry-after"] == "10"
    assert flood.json() == {"error": "rate_limited", "error_description": "tenant request limit reached"}
    assert globex_statuses == [200] * (FLOOD_LIMIT * 2)


async def test_spoofed_identity_headers_are_ignored(edge: Edge, seeded: None, admin_url: str) -> None:
    """alice@acme says she is globex in every header a proxy might use: she still sees acme's warehouses."""
    rows = await admin_rows(admin_url, "SELECT code, tenant_id FROM inventory.warehouses")
    by_tenant = {tenant: {code for code, owner in rows if owner == tenant} for tenant in ("acme", "globex")}
    spoofed = {"X-Tenant-Id": "globex", "X-Tenant": "globex", "X-User-Id": "bob@globex", "Forwarded": "for=10.0.0.1"}
    async with edge.http() as http:
        response = await call_tool(http, edge.url("inventory"), edge.token("alice@acme"), "list_warehouses",
                                   headers=spoofed)  # fmt: skip
    codes = {item["code"] for item in result_of(response)["structuredContent"]["items"]}
    assert codes == by_tenant["acme"] and not codes & by_tenant["globex"]


async def test_access_log_has_tenant_user_and_session_and_never_a_token(edge: Edge) -> None:
    tokens = [edge.token("alice@acme"), edge.token("bob@globex", "logistics")]
    before = edge.mark()
    async with edge.http() as http:
        await list_tools(http, edge.url("inventory"), tokens[0])
        await list_tools(http, edge.url("logistics"), tokens[1])
        await list_tools(http, edge.url("inventory"), tokens[0][:-4] + "AAAA")  # a forged one is not logged either
    lines = edge.new_log_lines(before, count=3)
    assert 'tenant="acme" sub="alice@acme"' in lines[0] and 'rpc="tools/list"' in lines[0]
    assert 'tenant="globex" sub="bob@globex"' in lines[1]
    assert 'tenant="" sub=""' in lines[2] and " 401 " in lines[2]
    whole_log = edge.gateway.access_log.read_text(encoding="utf-8")
    for token in tokens:
        for piece in token.split("."):  # not the token, not any of its three parts
            assert piece not in whole_log
    assert "eyJ" not in whole_log  # nothing that even looks like a JWT
