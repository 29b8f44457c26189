"""`supplychain approvals list`: each pending approval as three printed lines, the last its page URL."""

from __future__ import annotations

import os
import sys

import anyio
import pytest

from tests.helpers import Human, admin_rows, mcp_client, pending_approval_id
from tests.payments.builders import ACME_PENDING

pytestmark = pytest.mark.usefixtures("seeded")


async def test_a_pending_approval_is_listed_line_by_line_with_its_page(admin_url: str) -> None:
    async with mcp_client("payments", "fred@acme", human=Human()) as client:
        pending = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    approval_id, page = pending_approval_id(pending), pending.structured_content["url"]  # type: ignore[index]
    [(summary, expires_at)] = await admin_rows(
        admin_url, "SELECT summary, expires_at FROM payments.pending_approvals WHERE id = :i", i=approval_id
    )
    command = [sys.executable, "-m", "supplychain.cli", "approvals", "list", "--server", "payments", "--tenant", "acme"]
    result = await anyio.run_process(command, env={**os.environ, "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url})
    assert result.stdout.decode().splitlines() == [
        f"{approval_id}  four_eyes  release_payment  tenant acme  requested by fred@acme  "
        f"expires {expires_at.isoformat()}",
        f"    {summary}",
        f"    decide at {page}",
    ]
