"""Step-up (403 insufficient_scope), server-side RBAC over claimed scopes, and tenant only from the token."""

from __future__ import annotations

import httpx2
import pytest

from tests.helpers import Human, admin_rows, snapshot
from tests.http.clients import mcp_client
from tests.http.expect import assert_scope_refused, assert_step_up
from tests.http.rpc import call_tool, list_tools, result_of
from tests.http.stack import Stack
from tests.http.tokens import claims_of, flow_token, mint, sign

pytestmark = pytest.mark.usefixtures("seeded")

READ_TOOLS = ["get_approval", "get_stock_level", "list_reorders", "list_stock_levels", "list_warehouses"]
ALL_TOOLS = sorted([*READ_TOOLS, "cancel_reorder", "create_reorder"])
REORDER = {"sku": "BOLT-M8", "warehouse": "RTM-2", "quantity": 5}


async def reorders(admin_url: str) -> list[tuple[str, str, int, str]]:
    return [
        (tenant, sku, quantity, requested_by)
        for tenant, sku, quantity, requested_by in await admin_rows(
            admin_url,
            "SELECT tenant_id, sku, quantity, requested_by FROM inventory.reorders ORDER BY created_at, id",
        )
    ]


async def test_step_up_from_read_to_reorder_scope(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    granted = await flow_token(stack.idp, user="alice@acme", server="inventory", scope="inventory:read")
    read_only = granted["access_token"]
    before = await snapshot(admin_url, "inventory")

    # With only inventory:read, tools/list shows every tool alice's role allows (a model can pick a
    # reorder), and calling one is a 403 step-up asking for what the token holds plus the reorder scope.
    async with mcp_client(inventory.url, read_only, mode="legacy") as client:
        assert sorted(tool.name for tool in (await client.list_tools()).tools) == ALL_TOOLS
    async with httpx2.AsyncClient(timeout=10) as http:
        assert_step_up(
            await call_tool(http, inventory.url, read_only, "create_reorder", REORDER),
            inventory,
            needed="inventory:reorder",
            scope="inventory:read inventory:reorder",
        )
        assert_step_up(
            await call_tool(http, inventory.url, read_only, "cancel_reorder", {"reorder_id": "ro_" + "0" * 20}),
            inventory,
            needed="inventory:reorder",
            scope="inventory:read inventory:reorder",
        )
    assert await snapshot(admin_url, "inventory") == before

    # A new token with the scope the challenge named: the call goes through, after a human approves.
    stepped_up = await flow_token(
        stack.idp, user="alice@acme", server="inventory", scope="inventory:read inventory:reorder"
    )
    assert stepped_up["scope"] == "inventory:read inventory:reorder"
    human = Human()
    async with mcp_client(inventory.url, stepped_up["access_token"], human=human) as client:
        assert sorted(tool.name for tool in (await client.list_tools()).tools) == ALL_TOOLS
        result = await client.call_tool("create_reorder", REORDER)
    assert not result.is_error, result
    assert result.structured_content is not None
    assert result.structured_content["status"] == "open"
    assert len(human.questions) == 1 and "5 x BOLT-M8 for warehouse RTM-2" in human.questions[0]
    assert (await reorders(admin_url))[-1] == ("acme", "BOLT-M8", 5, "alice@acme")


async def test_scope_the_role_may_not_hold_is_ignored(stack: Stack, admin_url: str) -> None:
    """ana@acme is an analyst: a token claiming inventory:reorder, signed with the real key, still cannot reorder,
    and is not invited to step up to it (no re-authorization could grant it)."""
    inventory = stack["inventory"]
    claims = claims_of(mint(stack.idp, user="ana@acme", server="inventory"))
    assert claims["roles"] == ["analyst"]
    escalated = sign(stack.idp, {**claims, "scope": "inventory:read inventory:reorder"})
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, escalated, "create_reorder", REORDER)
        listed = result_of(await list_tools(http, inventory.url, escalated))
    assert_scope_refused(response, "create_reorder", "inventory:reorder")
    assert sorted(tool["name"] for tool in listed["tools"]) == READ_TOOLS
    assert await snapshot(admin_url, "inventory") == before


async def test_an_unknown_role_in_the_token_grants_nothing(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    claims = claims_of(mint(stack.idp, user="ana@acme", server="inventory"))
    forged = sign(stack.idp, {**claims, "roles": ["analyst", "superuser"], "scope": "inventory:read inventory:reorder"})
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, forged, "create_reorder", REORDER)
    assert_scope_refused(response, "create_reorder", "inventory:reorder")
    assert await snapshot(admin_url, "inventory") == before


async def test_tenant_comes_only_from_the_token(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    alice = mint(stack.idp, user="alice@acme", server="inventory")
    globex = {"X-Tenant-Id": "globex", "X-Tenant": "globex", "Tenant-Id": "globex"}
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        listed = result_of(await call_tool(http, inventory.url, alice, "list_warehouses", headers=globex))
        with_argument = result_of(
            await call_tool(http, inventory.url, alice, "list_warehouses", {"tenant_id": "globex"}, headers=globex)
        )
        globex_stock = result_of(
            await call_tool(
                http, inventory.url, alice, "get_stock_level", {"sku": "BOLT-M8", "warehouse": "CHI-1"}, headers=globex
            )
        )
    assert [w["code"] for w in listed["structuredContent"]["items"]] == ["AMS-1", "RTM-2"]
    assert with_argument["isError"] is True
    assert with_argument["content"][0]["text"] == "unknown argument(s) for list_warehouses: 'tenant_id'"
    # globex's warehouse, asked for with globex's header: indistinguishable from "no such record".
    assert globex_stock["isError"] is True
    assert "no stock level 'BOLT-M8 in CHI-1'" in globex_stock["content"][0]["text"]
    assert await snapshot(admin_url, "inventory") == before

    # A write with the header and a smuggled argument: refused; then without the argument, acme's.
    async with mcp_client(inventory.url, alice, human=Human(), headers=globex) as client:
        smuggled = await client.call_tool("create_reorder", {**REORDER, "tenant_id": "globex"})
        assert smuggled.is_error
        assert await snapshot(admin_url, "inventory") == before
        created = await client.call_tool("create_reorder", REORDER)
    assert not created.is_error
    assert (await reorders(admin_url))[-1] == ("acme", "BOLT-M8", 5, "alice@acme")


async def test_a_step_up_refusal_leaves_its_audit_record(stack: Stack, admin_url: str) -> None:
    """The 403 is answered before the MCP layer, and still recorded like every other refused call."""
    inventory = stack["inventory"]
    read_only = (await flow_token(stack.idp, user="alice@acme", server="inventory", scope="inventory:read"))[
        "access_token"
    ]
    last = (await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log"))[0][0]
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, read_only, "create_reorder", REORDER)
    assert_step_up(response, inventory, needed="inventory:reorder", scope="inventory:read inventory:reorder")
    records = await admin_rows(
        admin_url,
        "SELECT tenant_id, user_id, transport, tool, decision, outcome, detail, request_id, arguments "
        "FROM inventory.audit_log WHERE seq > :s ORDER BY seq",
        s=last,
    )
    assert records == [
        (
            "acme",
            "alice@acme",
            "http",
            "create_reorder",
            "not_required",
            "refused",
            "missing scope inventory:reorder",
            response.headers["X-Request-Id"],
            REORDER,
        )
    ]
    assert "Bearer" not in str(records) and read_only not in str(records)


async def test_a_client_cannot_choose_the_request_id_of_its_audit_records(stack: Stack, admin_url: str) -> None:
    """A client's X-Request-Id never becomes a record's request id: the server's own id, sent back, does."""
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    read_only = (await flow_token(stack.idp, user="alice@acme", server="inventory", scope="inventory:read"))[
        "access_token"
    ]
    chosen = {"X-Request-Id": "victims-request-id-1"}
    last = (await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log"))[0][0]
    async with httpx2.AsyncClient(timeout=10) as http:
        served = await call_tool(http, inventory.url, token, "list_warehouses", headers=chosen)
        stepped_up = await call_tool(http, inventory.url, read_only, "create_reorder", REORDER, headers=chosen)
    assert result_of(served)["isError"] is False
    assert_step_up(stepped_up, inventory, needed="inventory:reorder", scope="inventory:read inventory:reorder")
    ids = [served.headers["X-Request-Id"], stepped_up.headers["X-Request-Id"]]
    assert "victims-request-id-1" not in ids and ids[0] != ids[1]
    records = await admin_rows(
        admin_url, "SELECT tool, request_id FROM inventory.audit_log WHERE seq > :s ORDER BY seq", s=last
    )
    assert records == [("list_warehouses", ids[0]), ("create_reorder", ids[1])]
