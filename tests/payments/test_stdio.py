"""Phase 1 end to end: the payments server as a real stdio subprocess, as Claude Desktop runs it."""

from __future__ import annotations

import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import (
    Human,
    local_identity,
    pending_approval_id,
    serve_command,
    snapshot,
    stdio_env,
    without_approvals,
)
from tests.payments.builders import ACME_PENDING, READ_TOOLS

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]

SERVE = serve_command("payments")
FRED = local_identity("fred@acme")


async def test_stdio_server_lists_reads_and_leaves_a_release_to_another_person(admin_url: str) -> None:
    """Four eyes: fred's own client is never asked; the release waits for another person on the page."""
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=stdio_env(**FRED))
    human = Human()
    before = await snapshot(admin_url, "payments")
    async with Client(params, elicitation_callback=human) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        payment = await client.call_tool("get_payment", {"payment_id": ACME_PENDING})
        released = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    assert names == [*READ_TOOLS, "release_payment", "issue_refund", "get_approval"]
    assert payment.structured_content is not None and payment.structured_content["status"] == "pending_approval"
    assert pending_approval_id(released).startswith("ap_")
    assert human.questions == []
    assert without_approvals(await snapshot(admin_url, "payments")) == without_approvals(before)
