"""Legacy (2025-11-25) sessions are capped per tenant and per user (`securemcp.http.sessions`), under the
process-wide cap: one tenant opening sessions cannot make another tenant's clients get 503.
"""

from __future__ import annotations

import httpx2
import pytest

from idp.tokens import Subject
from supplychain.servers import load_settings
from tests.http.conftest import ExtraServer
from tests.http.rpc import LEGACY, bearer, initialize, list_tools, result_of, session_call
from tests.http.stack import Stack
from tests.http.tokens import mint

TOO_MANY = (503, {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": "Too many open sessions"}})


def answer(response: httpx2.Response) -> tuple[int, object]:
    return response.status_code, response.json()


async def test_one_tenant_cannot_take_the_sessions_of_the_others(stack: Stack, extra_server: ExtraServer) -> None:
    with extra_server("inventory", max_sessions=10, max_sessions_per_tenant=3, max_sessions_per_user=2) as inventory:
        token = {user: mint(stack.idp, user=user, server="inventory", audience=inventory.url)
                 for user in ("alice@acme", "ana@acme", "priya@acme", "bob@globex")}  # fmt: skip
        carl = Subject(sub="carl@globex", tenant_id="globex", roles=("analyst",))
        token["carl@globex"] = mint(stack.idp, user=carl.sub, server="inventory", audience=inventory.url, subject=carl)
        async with httpx2.AsyncClient(timeout=10) as http:

            async def open_session(user: str) -> httpx2.Response:
                return await initialize(http, inventory.url, token[user])

            alice = [await open_session("alice@acme") for _ in range(2)]
            assert [response.status_code for response in alice] == [200, 200]
            assert answer(await open_session("alice@acme")) == TOO_MANY  # alice's own cap (2)
            assert (await open_session("ana@acme")).status_code == 200  # acme now holds its 3
            assert answer(await open_session("priya@acme")) == TOO_MANY  # acme's cap, another user
            # globex is untouched by acme's sessions, and its sessions work.
            bob = await open_session("bob@globex")
            assert bob.status_code == 200
            served = await session_call(http, inventory.url, token["bob@globex"], bob.headers["mcp-session-id"],
                                        "list_warehouses", {})  # fmt: skip
            assert result_of(served)["isError"] is False
            assert (await open_session("carl@globex")).status_code == 200
            # acme's open sessions still work; sessionless (2026-07-28) requests are never capped.
            assert result_of(await list_tools(http, inventory.url, token["priya@acme"]))["tools"]
            # Closing one of alice's sessions frees a place for acme, and for alice.
            closed = await http.delete(inventory.url, headers={"Mcp-Session-Id": alice[0].headers["mcp-session-id"],
                                                               "MCP-Protocol-Version": LEGACY,
                                                               **bearer(token["alice@acme"])})  # fmt: skip
            assert closed.status_code == 200
            assert (await open_session("alice@acme")).status_code == 200
            assert answer(await open_session("priya@acme")) == TOO_MANY


async def test_a_refused_opening_request_holds_no_place(stack: Stack, extra_server: ExtraServer) -> None:
    """A session the SDK does not establish (here: not an initialize) is released, so it cannot leak a place."""
    with extra_server("inventory", max_sessions_per_tenant=1, max_sessions_per_user=1) as inventory:
        token = mint(stack.idp, user="alice@acme", server="inventory", audience=inventory.url)
        async with httpx2.AsyncClient(timeout=10) as http:
            for _ in range(3):
                not_initialize = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
                refused = await http.post(
                    inventory.url,
                    json=not_initialize,
                    headers={"Accept": "application/json, text/event-stream", **bearer(token)},
                )
                assert refused.status_code == 400
            assert (await initialize(http, inventory.url, token)).status_code == 200


@pytest.mark.parametrize(
    "values",
    [{"max_sessions_per_tenant": "lots"}, {"max_sessions_per_user": "0"}, {"max_sessions_per_tenant": "-1"}],
)
def test_session_caps_are_parsed_strictly(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"SUPPLYCHAIN_INVENTORY_{name.upper()}", value)
    with pytest.raises(ValueError, match=next(iter(values))):
        load_settings("inventory")


def test_a_per_user_cap_above_the_tenants_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_INVENTORY_MAX_SESSIONS_PER_TENANT", "2")
    monkeypatch.setenv("SUPPLYCHAIN_INVENTORY_MAX_SESSIONS_PER_USER", "5")
    with pytest.raises(ValueError, match="MAX_SESSIONS_PER_USER cannot exceed MAX_SESSIONS_PER_TENANT"):
        load_settings("inventory")
