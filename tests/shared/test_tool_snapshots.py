"""Each server's tool list matches a reviewed snapshot (guards against tool poisoning and rug pulls).

A change to a tool's name, description, input schema, output schema or annotations fails the build
until someone reviews it and refreshes the snapshot:

    SUPPLYCHAIN_UPDATE_SNAPSHOTS=1 uv run pytest tests/shared/test_tool_snapshots.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from shared.identity import identity_from_roles
from shared.policy import ROLE_SCOPES, SERVERS
from tests.helpers import mcp_client

SNAPSHOTS = Path(__file__).parent.parent / "snapshots"
EVERY_ROLE = identity_from_roles(tenant_id="acme", user_id="reviewer@acme", roles=frozenset(ROLE_SCOPES))


@pytest.mark.parametrize("server", SERVERS)
async def test_tool_list_matches_the_reviewed_snapshot(server_urls: dict[str, str], server: str) -> None:
    async with mcp_client(server, EVERY_ROLE) as client:
        tools = [
            tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in (await client.list_tools()).tools
        ]
    current = json.dumps(tools, indent=2, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"{server}_tools.json"
    if os.environ.get("SUPPLYCHAIN_UPDATE_SNAPSHOTS") == "1":
        path.write_text(current, encoding="utf-8")
    assert path.exists(), f"no reviewed snapshot for {server}: run with SUPPLYCHAIN_UPDATE_SNAPSHOTS=1 and review it"
    assert current == path.read_text(encoding="utf-8"), f"{server}'s tool list changed: review the diff, then update"


def test_every_tool_declares_a_closed_input_schema_and_truthful_read_only_hint() -> None:
    for server in SERVERS:
        for tool in json.loads((SNAPSHOTS / f"{server}_tools.json").read_text(encoding="utf-8")):
            assert tool["inputSchema"]["additionalProperties"] is False, tool["name"]
            assert "readOnlyHint" in tool["annotations"], tool["name"]
            assert tool["description"].strip(), tool["name"]
