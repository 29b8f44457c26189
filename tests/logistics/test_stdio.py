"""Phase 1 end to end: the logistics server as a real stdio subprocess, as Claude Desktop runs it."""

from __future__ import annotations

import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import local_identity, pending_approval_id, serve_command, snapshot, stdio_env, without_approvals
from tests.logistics.builders import IN_TRANSIT, reroute_args

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]

SERVE = serve_command("logistics")
ALICE = local_identity("alice@acme")


async def test_stdio_server_lists_tracks_and_leaves_a_reroute_to_the_approval_page(admin_url: str) -> None:
    """A verified reroute needs alice signed in afresh on the page: a client that cannot ask gets the page's URL."""
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=stdio_env(**ALICE))
    before = await snapshot(admin_url, "logistics")
    async with Client(params) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        tracked = await client.call_tool("track_shipment", {"shipment_id": IN_TRANSIT})
        rerouted = await client.call_tool("reroute_shipment", reroute_args())
    assert names == ["list_carriers", "list_shipments", "track_shipment", "reroute_shipment", "get_approval"]
    assert tracked.structured_content is not None and tracked.structured_content["shipment"]["id"] == IN_TRANSIT
    assert pending_approval_id(rerouted).startswith("ap_")
    assert without_approvals(await snapshot(admin_url, "logistics")) == without_approvals(before)
