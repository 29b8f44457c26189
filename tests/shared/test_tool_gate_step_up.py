"""The tool gate without HTTP in front: it lists what the roles allow and refuses what the token lacks.

Where no HTTP layer can answer with the 403 step-up (stdio, in-memory), a call the token's scopes do
not cover still ends in the gate's JSON-RPC scope error, and nothing runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from mcp import Client
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.shared.exceptions import MCPError

from supplychain.servers import load_settings, server_for
from tests.helpers import Human, snapshot

pytestmark = pytest.mark.usefixtures("seeded")

REORDER = {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 1}


@contextmanager
def alice_with_read_only_token() -> Iterator[None]:
    """As if HTTP had verified alice@acme's token (supply_chain_manager) holding inventory:read only."""
    claims = {
        "iss": "https://idp.example.test", "sub": "alice@acme", "tenant_id": "acme",
        "roles": ["supply_chain_manager"], "scope": "inventory:read",
    }  # fmt: skip
    token = AccessToken(token="t", client_id="c", scopes=["inventory:read"], subject="alice@acme", claims=claims)
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        yield
    finally:
        auth_context_var.reset(reset)


async def test_a_listed_tool_the_token_lacks_the_scope_for_is_refused_with_the_scope_error(admin_url: str) -> None:
    server = server_for(load_settings("inventory"))
    human = Human()
    before = await snapshot(admin_url, "inventory")
    with alice_with_read_only_token():
        async with Client(server, elicitation_callback=human) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            with pytest.raises(MCPError) as refused:
                await client.call_tool("create_reorder", REORDER)
    assert "create_reorder" in names and "cancel_reorder" in names
    assert refused.value.error.code == -32003
    assert str(refused.value) == "insufficient_scope: create_reorder requires scope 'inventory:reorder'"
    assert human.questions == []
    assert await snapshot(admin_url, "inventory") == before


async def test_read_only_mode_hides_what_the_roles_allow() -> None:
    server = server_for(load_settings("inventory", read_only=True))
    with alice_with_read_only_token():
        async with Client(server) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
    assert names == ["list_warehouses", "list_stock_levels", "get_stock_level", "list_reorders", "get_approval"]
