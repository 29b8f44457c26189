"""Tenants, scopes and hostile input: what the returns server refuses, and that refusing changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from securemcp.errors import FORBIDDEN
from securemcp.identity.principal import identity_from_roles

from deployment.policy import POLICY
from fixtures.returns import INJECTION_RETURN_ID
from supplychain.servers import load_settings, server_for
from tests.helpers import HOSTILE_STRINGS, Human, mcp_client, snapshot
from tests.returns.builders import ACME_IDS, CRUSHED_BOX, GLOBEX_IDS, MISSING_ID

pytestmark = pytest.mark.usefixtures("seeded")


@asynccontextmanager
async def globex_agent(human: Human | None = None) -> AsyncIterator[Client]:
    """A globex returns agent: no fixture user of globex may write returns, so build one."""
    agent = identity_from_roles(
        policy=POLICY, tenant_id="globex", user_id="rick@globex", roles=frozenset({"returns_agent"})
    )
    server = server_for(load_settings("returns"), local_identity=agent)
    async with Client(server, elicitation_callback=human) as client:
        yield client


def _without(text: str, rma_id: str) -> str:
    # NotFoundError names the id it was given; everything else must match word for word.
    return text.replace(rma_id, "<id>")


@pytest.mark.parametrize(
    ("tool", "extra"),
    [
        ("get_return", {}),
        ("approve_return", {}),
        ("reject_return", {"reason": "outside_return_window"}),
    ],
)
async def test_globex_gets_the_same_answer_for_acme_ids_as_for_ids_that_do_not_exist(
    admin_url: str, tool: str, extra: dict[str, Any]
) -> None:
    before = await snapshot(admin_url, "returns")
    human = Human()
    async with globex_agent(human) as client:
        missing = await client.call_tool(tool, {"return_id": MISSING_ID, **extra})
        for acme_id in ACME_IDS:
            result = await client.call_tool(tool, {"return_id": acme_id, **extra})
            assert result.is_error is True
            assert result.structured_content is None
            assert _without(result.content[0].text, acme_id) == _without(missing.content[0].text, MISSING_ID)
    assert missing.content[0].text == f"Error executing tool {tool}: no return {MISSING_ID!r}"
    assert human.questions == []  # nothing about another tenant's return reaches a human either
    assert await snapshot(admin_url, "returns") == before


async def test_list_returns_shows_each_tenant_only_its_own_returns() -> None:
    async with mcp_client("returns", "bob@globex") as client:
        globex = (await client.call_tool("list_returns", {"limit": 100})).structured_content["items"]
    async with mcp_client("returns", "ana@acme") as client:
        acme = (await client.call_tool("list_returns", {"limit": 100})).structured_content["items"]
    assert sorted(item["id"] for item in globex) == sorted(GLOBEX_IDS)
    assert sorted(item["id"] for item in acme) == sorted(ACME_IDS)


async def test_a_cursor_from_another_tenant_still_lists_only_your_own_returns() -> None:
    async with mcp_client("returns", "rita@acme") as client:
        acme_cursor = (await client.call_tool("list_returns", {"limit": 1})).structured_content["next_cursor"]
    async with mcp_client("returns", "bob@globex") as client:
        page = (await client.call_tool("list_returns", {"limit": 100, "cursor": acme_cursor})).structured_content
    # The cursor only moves the start within globex's own rows (all requested before acme's newest).
    assert {item["id"] for item in page["items"]} == set(GLOBEX_IDS)


@pytest.mark.parametrize("tool", ["list_returns", "get_return"])
async def test_a_caller_without_returns_read_is_refused_naming_the_scope(tool: str) -> None:
    async with mcp_client("returns", "audrey@acme") as client:  # an auditor: the activity log only
        assert [tool.name for tool in (await client.list_tools()).tools] == ["get_activity_log"]
        with pytest.raises(MCPError) as refused:
            await client.call_tool(tool, {"return_id": INJECTION_RETURN_ID} if tool == "get_return" else {})
    assert refused.value.error.code == FORBIDDEN
    assert str(refused.value) == f"insufficient_scope: {tool} requires scope 'returns:read'"


@pytest.mark.parametrize("user", ["ana@acme", "fred@acme", "alice@acme", "bob@globex"])
async def test_readers_see_only_the_read_tools(user: str) -> None:
    async with mcp_client("returns", user) as client:
        tools = (await client.list_tools()).tools
    assert sorted(tool.name for tool in tools) == ["get_approval", "get_return", "list_returns"]


@pytest.mark.parametrize(("user", "read_only"), [("ana@acme", False), ("fred@acme", False), ("rita@acme", True)])
@pytest.mark.parametrize(
    ("tool", "extra"),
    [
        ("approve_return", {}),
        ("reject_return", {"reason": "item_not_eligible"}),
    ],
)
async def test_a_caller_without_returns_write_cannot_decide(
    admin_url: str, user: str, read_only: bool, tool: str, extra: dict[str, Any]
) -> None:
    before = await snapshot(admin_url, "returns")
    human = Human()
    async with mcp_client("returns", user, human=human, read_only=read_only) as client:
        if read_only:  # a read-only server withholds the tool before any scope is checked
            withheld = await client.call_tool(tool, {"return_id": CRUSHED_BOX, **extra})
            assert withheld.is_error is True
            assert withheld.content[0].text == f"{tool} is not available: this server runs read-only"
        else:
            with pytest.raises(MCPError) as refused:
                await client.call_tool(tool, {"return_id": CRUSHED_BOX, **extra})
            assert refused.value.error.code == FORBIDDEN
            assert str(refused.value) == f"insufficient_scope: {tool} requires scope 'returns:write'"
    assert human.questions == []
    assert await snapshot(admin_url, "returns") == before


@pytest.mark.parametrize(
    ("tool", "arguments", "unknown"),
    [
        ("get_return", {"return_id": CRUSHED_BOX, "tenant_id": "globex"}, "'tenant_id'"),
        ("list_returns", {"tenant_id": "globex", "user_id": "rita@acme"}, "'tenant_id', 'user_id'"),
        # An approval can never arrive as an argument: the model cannot approve its own call.
        ("approve_return", {"return_id": CRUSHED_BOX, "approval": {"approve": True}}, "'approval'"),
    ],
)
async def test_unknown_arguments_are_refused(
    admin_url: str, tool: str, arguments: dict[str, Any], unknown: str
) -> None:
    before = await snapshot(admin_url, "returns")
    human = Human()
    async with mcp_client("returns", "rita@acme", human=human) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    assert result.content[0].text == f"unknown argument(s) for {tool}: {unknown}"
    assert human.questions == []
    assert await snapshot(admin_url, "returns") == before


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("list_returns", {}, "status"),
        ("list_returns", {}, "cursor"),
        ("get_return", {}, "return_id"),
        ("approve_return", {}, "return_id"),
        ("reject_return", {"reason": "duplicate_request"}, "return_id"),
        ("reject_return", {"return_id": CRUSHED_BOX}, "reason"),
    ],
)
async def test_hostile_strings_in_every_string_argument_are_refused(
    admin_url: str, tool: str, arguments: dict[str, Any], field: str
) -> None:
    before = await snapshot(admin_url, "returns")
    human = Human()
    async with mcp_client("returns", "rita@acme", human=human) as client:
        for hostile in HOSTILE_STRINGS:
            result = await client.call_tool(tool, {**arguments, field: hostile})
            assert result.is_error is True, (field, hostile)
            assert result.structured_content is None
            assert result.content[0].text.startswith(f"Error executing tool {tool}: ")
            assert "Traceback" not in result.content[0].text
        # The server still answers a well-formed call afterwards.
        assert (await client.call_tool("get_return", {"return_id": CRUSHED_BOX})).is_error is False
    assert human.questions == []
    assert await snapshot(admin_url, "returns") == before


READ = {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True, "open_world_hint": False}


DECIDE = {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": True, "open_world_hint": False}


async def test_tools_list_shows_every_returns_tool_with_truthful_annotations() -> None:
    async with mcp_client("returns", "rita@acme") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == ["approve_return", "get_approval", "get_return", "list_returns", "reject_return"]
    for name, expected in [
        ("list_returns", READ),
        ("get_return", READ),
        ("get_approval", READ),
        ("approve_return", DECIDE),
        ("reject_return", DECIDE),
    ]:
        assert tools[name].annotations.model_dump(exclude_none=True, exclude={"title"}) == expected
        assert tools[name].input_schema["additionalProperties"] is False
    # The approval and the caller are injected: the model cannot see or fill them.
    assert sorted(tools["reject_return"].input_schema["properties"]) == ["idempotency_key", "reason", "return_id"]
    assert sorted(tools["approve_return"].input_schema["properties"]) == ["idempotency_key", "return_id"]
