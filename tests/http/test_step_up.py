"""Step-up that hosts complete: the 403 challenge keeps what the token holds, and tools/list follows the roles.

A host that re-authorizes with exactly the challenged scopes (the TypeScript SDK does) must not lose the
scopes it had; a host that only calls listed tools (a model) must see the tools it could step up to.
Neither may reach beyond the caller's roles: a scope the roles do not allow is never challenged for, and
a tool no role of the caller allows is never listed.
"""

from __future__ import annotations

import httpx2
import pytest

from idp.tokens import Subject
from tests.helpers import Human, snapshot
from tests.http.clients import mcp_client
from tests.http.conftest import ExtraServer
from tests.http.expect import assert_scope_refused, assert_step_up
from tests.http.rpc import call_tool, initialize, list_tools, result_of, session_call
from tests.http.stack import Stack
from tests.http.tokens import claims_of, flow_token, mint, sign

pytestmark = pytest.mark.usefixtures("seeded")

REORDER = {"sku": "BOLT-M8", "warehouse": "RTM-2", "quantity": 5}
NOTE = "Needs the inventory:reorder permission; the server asks for it when called."


async def listed(url: str, token: str) -> dict[str, str]:
    """Name → description of every tool tools/list shows `token`'s caller."""
    async with httpx2.AsyncClient(timeout=10) as http:
        tools = result_of(await list_tools(http, url, token))["tools"]
    return {tool["name"]: tool["description"] for tool in tools}


async def test_a_read_token_of_a_manager_lists_the_reorder_tools_with_their_step_up_note(stack: Stack) -> None:
    alice = mint(stack.idp, user="alice@acme", server="inventory", scopes=["inventory:read"])
    assert claims_of(alice)["scope"] == "inventory:read"
    tools = await listed(stack["inventory"].url, alice)
    assert sorted(tools) == [
        "cancel_reorder", "create_reorder", "get_approval", "get_stock_level", "list_reorders", "list_stock_levels",
        "list_warehouses",
    ]  # fmt: skip
    assert tools["create_reorder"] == (
        "Create a purchase reorder for a SKU in a warehouse. A human is asked to approve it first. " + NOTE
    )
    assert tools["list_stock_levels"].endswith("to see only what needs reordering.")  # reading tools need no note


async def test_an_analyst_is_not_shown_tools_no_role_of_hers_allows(stack: Stack) -> None:
    claims = claims_of(mint(stack.idp, user="ana@acme", server="inventory"))
    # Even a token (signed with the real key) that claims the reorder scope shows her no reorder tool.
    forged = sign(stack.idp, {**claims, "scope": "inventory:read inventory:reorder inventory:decide audit:read"})
    for token in (mint(stack.idp, user="ana@acme", server="inventory"), forged):
        assert sorted(await listed(stack["inventory"].url, token)) == [
            "get_approval", "get_stock_level", "list_reorders", "list_stock_levels", "list_warehouses",
        ]  # fmt: skip


async def test_a_challenge_never_names_a_scope_the_roles_do_not_allow(stack: Stack, admin_url: str) -> None:
    """alice's token claims scopes her role may not hold here and scopes of other servers: none is echoed."""
    inventory = stack["inventory"]
    claims = claims_of(mint(stack.idp, user="alice@acme", server="inventory", scopes=["inventory:read"]))
    beyond = "inventory:decide audit:read payments:refund logistics:read logistics:reroute"
    padded = sign(stack.idp, {**claims, "scope": f"inventory:read {beyond}"})
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, padded, "create_reorder", REORDER)
    assert_step_up(response, inventory, needed="inventory:reorder", scope="inventory:read inventory:reorder")
    assert await snapshot(admin_url, "inventory") == before


async def test_a_challenge_keeps_every_scope_the_token_holds_on_this_server(stack: Stack) -> None:
    """A manager who is also an auditor holds inventory:read and audit:read; the step-up asks for both again."""
    inventory = stack["inventory"]
    both = Subject(sub="max@acme", tenant_id="acme", roles=("auditor", "supply_chain_manager"))
    token = mint(stack.idp, user=both.sub, server="inventory", scopes=["inventory:read", "audit:read"], subject=both)
    assert claims_of(token)["scope"] == "audit:read inventory:read"
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, token, "create_reorder", REORDER)
    assert_step_up(response, inventory, needed="inventory:reorder", scope="audit:read inventory:read inventory:reorder")


async def test_a_2025_11_25_session_gets_the_same_challenge(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    alice = mint(stack.idp, user="alice@acme", server="inventory", scopes=["inventory:read"])
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        session = (await initialize(http, inventory.url, alice)).headers["mcp-session-id"]
        response = await session_call(http, inventory.url, alice, session, "create_reorder", REORDER)
    assert_step_up(response, inventory, needed="inventory:reorder", scope="inventory:read inventory:reorder")
    assert await snapshot(admin_url, "inventory") == before


async def test_the_approver_is_refused_a_reorder_without_a_challenge(stack: Stack, admin_url: str) -> None:
    """priya (approver) holds inventory:decide but no role of hers allows inventory:reorder: no re-authorization
    could help, so there is no 403 to re-consent to, only the tool gate's scope error."""
    inventory = stack["inventory"]
    priya = mint(stack.idp, user="priya@acme", server="inventory")
    assert claims_of(priya)["scope"] == "inventory:decide inventory:read"
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, priya, "create_reorder", REORDER)
    assert_scope_refused(response, "create_reorder", "inventory:reorder")
    assert "create_reorder" not in await listed(inventory.url, priya)
    assert await snapshot(admin_url, "inventory") == before


@pytest.mark.parametrize(
    ("variable", "value", "refusal"),
    [
        ("SUPPLYCHAIN_INVENTORY_READ_ONLY", "true", "create_reorder is not available: this server runs read-only"),
        ("SUPPLYCHAIN_TOOLS", "list_*", "create_reorder is not enabled on this server (SUPPLYCHAIN_TOOLS)"),
    ],
)
async def test_read_only_mode_and_the_allow_list_still_remove_the_tool_entirely(
    extra_server: ExtraServer,
    stack: Stack,
    admin_url: str,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    refusal: str,
) -> None:
    monkeypatch.setenv(variable, value)  # read once, when the extra server's settings are made
    with extra_server("inventory") as inventory:
        full = mint(stack.idp, user="alice@acme", server="inventory", audience=inventory.url)
        read = mint(stack.idp, user="alice@acme", server="inventory", scopes=["inventory:read"], audience=inventory.url)
        before = await snapshot(admin_url, "inventory")
        for token in (read, full):
            assert "create_reorder" not in await listed(inventory.url, token)
            async with httpx2.AsyncClient(timeout=10) as http:
                response = await call_tool(http, inventory.url, token, "create_reorder", REORDER)
            assert "www-authenticate" not in response.headers  # no step-up to a withheld tool
            assert result_of(response) == {
                "content": [{"type": "text", "text": refusal}],
                "isError": True,
                "resultType": "complete",
            }
        assert await snapshot(admin_url, "inventory") == before


async def test_after_the_step_up_the_reorder_runs_and_reads_still_work(stack: Stack, admin_url: str) -> None:
    """The challenged list, granted as is, is enough for the reorder and for the next read."""
    inventory = stack["inventory"]
    read = mint(stack.idp, user="alice@acme", server="inventory", scopes=["inventory:read"])
    async with httpx2.AsyncClient(timeout=10) as http:
        challenged = (await call_tool(http, inventory.url, read, "create_reorder", REORDER)).json()["scope"]
    granted = await flow_token(stack.idp, user="alice@acme", server="inventory", scope=challenged)
    assert granted["scope"] == "inventory:read inventory:reorder"
    human = Human()
    async with mcp_client(inventory.url, granted["access_token"], human=human) as client:
        created = await client.call_tool("create_reorder", REORDER)
        stock = await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "RTM-2"})
    assert not created.is_error and not stock.is_error
    assert len(human.questions) == 1
