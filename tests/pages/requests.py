"""Pending approvals for the page tests, requested the way an agent would, and database reads."""

from __future__ import annotations

from typing import Any

from tests.helpers import admin_rows, mcp_client


async def pending(server: str, user: str, tool: str, arguments: dict[str, Any]) -> str:
    """The id of the pending approval `user`'s call of `tool` records (a client that cannot be asked)."""
    async with mcp_client(server, user) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content
    assert result.structured_content is not None and result.structured_content["status"] == "pending", result
    return str(result.structured_content["approval_id"])


async def payment_row(admin_url: str, payment_id: str) -> tuple[Any, ...]:
    """(status, released_by) of a payment, read with the admin credential."""
    rows = await admin_rows(
        admin_url, "SELECT status, released_by FROM payments.payments WHERE id = :id", id=payment_id
    )
    return rows[0]


async def approval_row(admin_url: str, schema: str, approval_id: str) -> tuple[Any, ...]:
    """(status, decided_by) of an approval, read with the admin credential."""
    rows = await admin_rows(
        admin_url, f"SELECT status, decided_by FROM {schema}.pending_approvals WHERE id = :id", id=approval_id
    )
    return rows[0]
