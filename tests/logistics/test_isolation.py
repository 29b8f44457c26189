"""What the logistics server refuses: other tenants' rows, missing scopes, hostile input, unknown args."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from securemcp.ids import fixture_id

from tests.helpers import HOSTILE_STRINGS, Human, mcp_client, snapshot
from tests.logistics.builders import GLOBEX_SHIPMENT_IDS, IN_TRANSIT, NONEXISTENT, reroute_args, text

pytestmark = pytest.mark.usefixtures("seeded")

TOOL_SCOPES = {
    "list_carriers": "logistics:read",
    "list_shipments": "logistics:read",
    "track_shipment": "logistics:read",
    "reroute_shipment": "logistics:reroute",
}
VALID_ARGS: dict[str, dict[str, Any]] = {
    "list_carriers": {},
    "list_shipments": {},
    "track_shipment": {"shipment_id": IN_TRANSIT},
    "reroute_shipment": reroute_args(),
}


async def test_globex_cannot_track_an_acme_shipment() -> None:
    async with mcp_client("logistics", "bob@globex") as client:
        acme = await client.call_tool("track_shipment", {"shipment_id": IN_TRANSIT})
        unknown = await client.call_tool("track_shipment", {"shipment_id": NONEXISTENT})
    assert acme.is_error and unknown.is_error
    # The same answer as for an id that never existed: nothing says the acme shipment exists.
    assert text(acme) == f"Error executing tool track_shipment: no shipment {IN_TRANSIT!r}"
    assert text(unknown) == f"Error executing tool track_shipment: no shipment {NONEXISTENT!r}"
    assert acme.structured_content is None


async def test_globex_cannot_reroute_an_acme_shipment(admin_url: str) -> None:
    before = await snapshot(admin_url, "logistics")
    human = Human()
    async with mcp_client("logistics", "bob@globex", human=human) as client:
        acme = await client.call_tool("reroute_shipment", reroute_args(IN_TRANSIT, "CHI-1"))
        unknown = await client.call_tool("reroute_shipment", reroute_args(NONEXISTENT, "CHI-1"))
    assert text(acme) == f"Error executing tool reroute_shipment: no shipment {IN_TRANSIT!r}"
    assert text(unknown) == f"Error executing tool reroute_shipment: no shipment {NONEXISTENT!r}"
    assert acme.is_error and unknown.is_error
    assert human.questions == []  # nobody is asked about a shipment the caller cannot see
    assert await snapshot(admin_url, "logistics") == before


async def test_list_tools_return_only_the_callers_tenant() -> None:
    async with mcp_client("logistics", "bob@globex") as client:
        shipments = await client.call_tool("list_shipments", {})
        carriers = await client.call_tool("list_carriers", {})
    assert shipments.structured_content is not None and carriers.structured_content is not None
    assert {item["id"] for item in shipments.structured_content["items"]} == GLOBEX_SHIPMENT_IDS
    assert [item["tracking_number"] for item in shipments.structured_content["items"]] == [
        "PRA-300205",
        "PRA-300204",
        "SKY-900203",
        "LAK-400202",
        "PRA-300201",
    ]
    # Both tenants have a carrier coded SKY; bob sees globex's row, not acme's.
    assert [(c["id"], c["code"]) for c in carriers.structured_content["items"]] == [
        (fixture_id("ca", "globex/LAK"), "LAK"),
        (fixture_id("ca", "globex/PRA"), "PRA"),
        (fixture_id("ca", "globex/SKY"), "SKY"),
    ]


async def test_a_cursor_from_another_tenant_only_pages_the_callers_own_rows() -> None:
    async with mcp_client("logistics", "alice@acme") as alice:
        page = await alice.call_tool("list_shipments", {"limit": 1})
    assert page.structured_content is not None
    async with mcp_client("logistics", "bob@globex") as bob:
        result = await bob.call_tool("list_shipments", {"cursor": page.structured_content["next_cursor"]})
    assert result.structured_content is not None
    assert {item["id"] for item in result.structured_content["items"]} <= GLOBEX_SHIPMENT_IDS


@pytest.mark.parametrize("tool", list(TOOL_SCOPES))
async def test_caller_without_the_scope_is_refused_naming_it(admin_url: str, tool: str) -> None:
    before = await snapshot(admin_url, "logistics")
    async with mcp_client("logistics", "fred@acme", human=Human()) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(tool, VALID_ARGS[tool])
    assert str(refused.value) == f"insufficient_scope: {tool} requires scope {TOOL_SCOPES[tool]!r}"
    assert await snapshot(admin_url, "logistics") == before


async def test_analyst_cannot_reroute(admin_url: str) -> None:
    before = await snapshot(admin_url, "logistics")
    human = Human()
    async with mcp_client("logistics", "ana@acme", human=human) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("reroute_shipment", reroute_args())
    assert str(refused.value) == "insufficient_scope: reroute_shipment requires scope 'logistics:reroute'"
    assert human.questions == []
    assert await snapshot(admin_url, "logistics") == before


@pytest.mark.parametrize(
    ("user", "read_only", "visible"),
    [
        (
            "alice@acme",
            False,
            ["get_approval", "list_carriers", "list_shipments", "reroute_shipment", "track_shipment"],
        ),
        ("alice@acme", True, ["get_approval", "list_carriers", "list_shipments", "track_shipment"]),
        ("ana@acme", False, ["get_approval", "list_carriers", "list_shipments", "track_shipment"]),
        ("fred@acme", False, []),
        (
            "priya@acme",
            False,
            ["get_approval", "list_carriers", "list_shipments", "track_shipment"],
        ),
        ("priya@acme", True, ["get_approval", "list_carriers", "list_shipments", "track_shipment"]),
    ],
)
async def test_tools_list_shows_only_what_the_caller_may_call(user: str, read_only: bool, visible: list[str]) -> None:
    async with mcp_client("logistics", user, read_only=read_only) as client:
        tools = (await client.list_tools()).tools
    assert sorted(tool.name for tool in tools) == visible


async def test_reroute_schema_hides_caller_and_approval_and_annotations_tell_the_truth() -> None:
    async with mcp_client("logistics", "alice@acme") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    reroute = tools["reroute_shipment"]
    assert sorted(reroute.input_schema["properties"]) == [
        "destination_warehouse",
        "idempotency_key",
        "reason",
        "shipment_id",
    ]
    assert reroute.input_schema["additionalProperties"] is False
    assert reroute.input_schema["properties"]["shipment_id"]["pattern"] == "^sh_[0-9a-f]{20}$"
    assert reroute.annotations is not None and tools["track_shipment"].annotations is not None
    assert (reroute.annotations.read_only_hint, reroute.annotations.destructive_hint) == (False, True)
    assert tools["track_shipment"].annotations.read_only_hint is True


HOSTILE_TARGETS = [
    ("list_carriers", "cursor"),
    ("list_shipments", "status"),
    ("list_shipments", "cursor"),
    ("track_shipment", "shipment_id"),
    ("reroute_shipment", "shipment_id"),
    ("reroute_shipment", "destination_warehouse"),
    ("reroute_shipment", "reason"),
]


@pytest.mark.parametrize(("tool", "argument"), HOSTILE_TARGETS)
async def test_hostile_strings_are_refused_and_change_nothing(admin_url: str, tool: str, argument: str) -> None:
    before = await snapshot(admin_url, "logistics")
    human = Human()
    async with mcp_client("logistics", "alice@acme", human=human) as client:
        for hostile in HOSTILE_STRINGS:
            result = await client.call_tool(tool, {**VALID_ARGS[tool], argument: hostile})
            assert result.is_error, f"{tool}({argument}={hostile[:40]!r}) was accepted"
    assert human.questions == []
    assert await snapshot(admin_url, "logistics") == before


@pytest.mark.parametrize("tool", list(TOOL_SCOPES))
async def test_unknown_argument_is_refused(admin_url: str, tool: str) -> None:
    before = await snapshot(admin_url, "logistics")
    human = Human()
    async with mcp_client("logistics", "alice@acme", human=human) as client:
        result = await client.call_tool(tool, {**VALID_ARGS[tool], "tenant_id": "globex"})
    assert result.is_error
    assert text(result) == f"unknown argument(s) for {tool}: 'tenant_id'"
    assert human.questions == []
    assert await snapshot(admin_url, "logistics") == before
