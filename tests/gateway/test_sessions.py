"""Full MCP sessions through the gateway with the real `mcp` client, in both protocol eras, each with an
approval round trip; the replicas and the edge are the real ones (see conftest.py).

On 2025-11-25 the approval question travels on the SSE stream of the pending tools/call: the call
completes only if HAProxy streams that event unbuffered, and the answer (a separate POST) reaches the
replica holding the session only through stickiness on `Mcp-Session-Id`.
"""

from __future__ import annotations

import re

import pytest

from tests.gateway.conftest import Edge
from tests.helpers import Human, admin_rows
from tests.http.clients import mcp_client
from tests.http.rpc import ACCEPT, LEGACY, initialize
from tests.http.tokens import flow_token

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.haproxy]

MODES = {"legacy": "2025-11-25", "auto": "2026-07-28"}
QUESTION = (
    "Create a purchase reorder of 7 x NUT-M8 for warehouse AMS-1 (organisation acme, requested by alice@acme)."
    "\n\nApprove this action?"
)


def servers_of(lines: list[str]) -> list[str]:
    """The replica that served each access log line (`be_inventory/inventory-1` -> `inventory-1`)."""
    return [match.group(1) for line in lines if (match := re.search(r" be_\w+/(\S+) ", line))]


@pytest.mark.parametrize("mode", list(MODES))
async def test_full_session_with_an_approval_through_the_gateway(mode: str, edge: Edge, admin_url: str) -> None:
    token = (await flow_token(edge.idp, user="alice@acme", server="inventory"))["access_token"]
    human = Human()
    before = edge.mark()
    async with mcp_client(edge.url("inventory"), token, mode=mode, human=human, verify=edge.ca) as client:
        assert client.session.protocol_version == MODES[mode]
        listed = await client.list_tools()
        stock = await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "RTM-2"})
        created = await client.call_tool("create_reorder", {"sku": "NUT-M8", "warehouse": "AMS-1", "quantity": 7})
    assert "create_reorder" in {tool.name for tool in listed.tools}
    assert stock.structured_content is not None and stock.structured_content["on_hand"] == 1225
    assert not created.is_error, created
    assert human.questions == [QUESTION]
    rows = await admin_rows(
        admin_url,
        "SELECT tenant_id, quantity, requested_by FROM inventory.reorders WHERE sku = 'NUT-M8' AND status = 'open'",
    )
    assert rows == [("acme", 7, "alice@acme")]

    lines = edge.new_log_lines(before, count=4)
    assert all('tenant="acme" sub="alice@acme"' in line for line in lines), lines
    if mode == "legacy":
        session_lines = [line for line in lines if 'sess=""' not in line]
        assert len(session_lines) >= 4
        assert len(set(servers_of(session_lines))) == 1, session_lines  # the session stayed on its replica
    else:
        calls = [line for line in lines if 'rpc="tools/call"' in line]
        # get_stock_level, then create_reorder's two legs: the answer came back to the other replica.
        assert len(calls) == 3, lines
        assert servers_of(calls)[1] != servers_of(calls)[2], calls


async def test_a_legacy_call_is_streamed_as_server_sent_events(edge: Edge) -> None:
    token = edge.token("alice@acme")
    async with edge.http() as http:
        opened = await initialize(http, edge.url("inventory"), token)
        session = opened.headers["mcp-session-id"]
        body = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "list_warehouses", "arguments": {}},
        }
        headers = {"Accept": ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY,
                   "Authorization": f"Bearer {token}"}  # fmt: skip
        async with http.stream("POST", edge.url("inventory"), json=body, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert '"result"' in events[-1] and "AMS-1" in events[-1]
