"""Each server's tool list matches a reviewed snapshot (guards against tool poisoning and rug pulls).

A change to a tool's name, title, description, input schema, output schema, annotations or place in
the list fails the build until someone reviews it and refreshes the snapshot:

    uv run supplychain tools snapshot            # or: --check, to only compare
    SUPPLYCHAIN_UPDATE_SNAPSHOTS=1 uv run pytest tests/shared/test_tool_snapshots.py

Both use `supplychain.manifest`, so the test and the command serialise the list the same way.
"""

from __future__ import annotations

import json
import os

import pytest

from deployment.registry import SERVERS
from supplychain.manifest import live_tools, render, snapshot_path
from supplychain.servers import server_module


@pytest.mark.parametrize("server", SERVERS)
async def test_tool_list_matches_the_reviewed_snapshot(server: str) -> None:
    current = render(await live_tools(server))
    path = snapshot_path(server)
    if os.environ.get("SUPPLYCHAIN_UPDATE_SNAPSHOTS") == "1":
        path.write_text(current, encoding="utf-8")
    assert path.exists(), f"no reviewed snapshot for {server}: run `supplychain tools snapshot` and review it"
    assert current == path.read_text(encoding="utf-8"), f"{server}'s tool list changed: review the diff, then update"


@pytest.mark.parametrize("server", SERVERS)
async def test_tools_are_listed_in_the_order_of_the_servers_tool_table(server: str) -> None:
    listed = [tool["name"] for tool in await live_tools(server)]
    assert listed == [tool.name for tool in server_module(server).TOOLS]


def test_every_tool_declares_a_closed_input_schema_and_truthful_read_only_hint() -> None:
    for server in SERVERS:
        for tool in json.loads(snapshot_path(server).read_text(encoding="utf-8")):
            assert tool["inputSchema"]["additionalProperties"] is False, tool["name"]
            assert "readOnlyHint" in tool["annotations"], tool["name"]
            assert tool["description"].strip(), tool["name"]
