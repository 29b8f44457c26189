"""Approval out of band: a client that cannot be asked leaves a pending approval a human decides later."""

from __future__ import annotations

import os
import re
import sys
from decimal import Decimal
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from sqlalchemy import text

from shared.admin import admin_engine
from shared.identity import Identity, identity_from_roles
from tests.helpers import admin_rows, mcp_client, snapshot
from tests.payments.fixture_ids import ACME_PARTLY_REFUNDED, ACME_PENDING

pytestmark = pytest.mark.usefixtures("seeded")

REORDER = {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 321}


async def _defer(server: str, user: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with mcp_client(server, user, human=None) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content
    assert result.structured_content is not None and result.structured_content["status"] == "pending"
    return result.structured_content


async def _decide(server: str, user: str | Identity, approval_id: str, decision: str) -> Any:
    async with mcp_client(server, user, human=None) as client:
        return await client.call_tool("decide_approval", {"approval_id": approval_id, "decision": decision})


def _without_approvals(tables: dict[str, Any]) -> dict[str, Any]:
    return {name: rows for name, rows in tables.items() if name != "pending_approvals"}


async def test_pending_records_the_exact_request_and_changes_nothing_else(admin_url: str) -> None:
    before = await snapshot(admin_url, "inventory")
    pending = await _defer("inventory", "alice@acme", "create_reorder", REORDER)
    assert _without_approvals(await snapshot(admin_url, "inventory")) == _without_approvals(before)
    [(tenant, user, tool, arguments, status)] = await admin_rows(
        admin_url,
        "SELECT tenant_id, requested_by, tool, arguments, status FROM inventory.pending_approvals WHERE id = :i",
        i=pending["approval_id"],
    )
    assert (tenant, user, tool, arguments, status) == ("acme", "alice@acme", "create_reorder", REORDER, "pending")
    assert pending["arguments"] == REORDER
    assert pending["summary"]["text"].startswith("Create a purchase reorder of 321 x TAPE-48")
    [(decision, approval_id)] = await admin_rows(
        admin_url,
        "SELECT decision, approval_id FROM inventory.audit_log WHERE approval_id = :i",
        i=pending["approval_id"],
    )
    assert (decision, approval_id) == ("pending", pending["approval_id"])


async def test_approve_executes_exactly_the_recorded_arguments_as_the_requester(admin_url: str) -> None:
    pending = await _defer("inventory", "alice@acme", "create_reorder", REORDER)
    async with mcp_client("inventory", "priya@acme") as client:
        listed = (await client.call_tool("list_pending_approvals", {})).structured_content
    assert listed is not None and pending["approval_id"] in [item["approval_id"] for item in listed["items"]]
    decided = await _decide("inventory", "priya@acme", pending["approval_id"], "approve")
    assert decided.is_error is False, decided.content
    assert decided.structured_content["status"] == "executed"
    assert decided.structured_content["decided_by"] == "priya@acme"
    rows = await admin_rows(
        admin_url,
        "SELECT tenant_id, sku, warehouse_code, quantity, requested_by FROM inventory.reorders "
        "WHERE sku = 'TAPE-48' AND quantity = 321",
    )
    assert rows == [("acme", "TAPE-48", "AMS-1", 321, "alice@acme")]
    async with mcp_client("inventory", "alice@acme", human=None) as client:
        seen = (await client.call_tool("get_approval", {"approval_id": pending["approval_id"]})).structured_content
    assert seen is not None and seen["status"] == "executed" and seen["decided_by"] == "priya@acme"
    assert seen["result"]["quantity"] == 321 and seen["result"]["requested_by"] == "alice@acme"
    [(decision, outcome)] = await admin_rows(
        admin_url,
        "SELECT decision, outcome FROM inventory.audit_log WHERE approval_id = :i AND tool = 'decide_approval'",
        i=pending["approval_id"],
    )
    assert (decision, outcome) == ("approved", "ok")
    again = await _decide("inventory", "priya@acme", pending["approval_id"], "approve")
    assert again.is_error is True and "already executed" in again.content[0].text


async def test_deny_changes_nothing(admin_url: str) -> None:
    pending = await _defer("inventory", "alice@acme", "create_reorder", REORDER)
    before = await snapshot(admin_url, "inventory")
    denied = await _decide("inventory", "priya@acme", pending["approval_id"], "deny")
    assert denied.is_error is False and denied.structured_content["status"] == "denied"
    assert _without_approvals(await snapshot(admin_url, "inventory")) == _without_approvals(before)
    again = await _decide("inventory", "priya@acme", pending["approval_id"], "approve")
    assert again.is_error is True and "already denied" in again.content[0].text


async def test_expired_approval_cannot_be_decided(admin_url: str) -> None:
    pending = await _defer("inventory", "alice@acme", "create_reorder", REORDER)
    engine = admin_engine(admin_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE inventory.pending_approvals SET created_at = now() - interval '2 hours', "
                    "expires_at = now() - interval '1 hour' WHERE id = :i"
                ),
                {"i": pending["approval_id"]},
            )
    finally:
        await engine.dispose()
    before = await snapshot(admin_url, "inventory")
    refused = await _decide("inventory", "priya@acme", pending["approval_id"], "approve")
    assert refused.is_error is True and "expired" in refused.content[0].text
    assert await snapshot(admin_url, "inventory") == before


async def test_another_tenants_approval_is_indistinguishable_from_a_missing_one(admin_url: str) -> None:
    pending = await _defer("inventory", "bob@globex", "create_reorder", REORDER)
    before = await snapshot(admin_url, "inventory")
    foreign = await _decide("inventory", "priya@acme", pending["approval_id"], "approve")
    missing = await _decide("inventory", "priya@acme", "ap_" + "0" * 20, "approve")
    assert foreign.is_error is True and missing.is_error is True
    assert foreign.content[0].text.replace(pending["approval_id"], "ID") == missing.content[0].text.replace(
        "ap_" + "0" * 20, "ID"
    )
    assert await snapshot(admin_url, "inventory") == before


async def test_deciding_needs_the_approve_scope(admin_url: str) -> None:
    pending = await _defer("inventory", "alice@acme", "create_reorder", REORDER)
    async with mcp_client("inventory", "alice@acme", human=None) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        with pytest.raises(MCPError, match="requires scope 'inventory:approve'"):
            await client.call_tool("decide_approval", {"approval_id": pending["approval_id"], "decision": "approve"})
    assert "decide_approval" not in names and "list_pending_approvals" not in names
    rows = await admin_rows(
        admin_url, "SELECT status FROM inventory.pending_approvals WHERE id = :i", i=pending["approval_id"]
    )
    assert rows == [("pending",)]


async def test_a_deferred_answer_fences_the_outside_text_its_summary_quotes() -> None:
    async with mcp_client("payments", "fred@acme", human=None) as client:
        result = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    text = result.content[0].text
    marker = re.search(r"<<(untrusted-[0-9a-f]{16})>>", text)
    assert marker is not None and f"<</{marker.group(1)}>>" in text
    fenced_parts = re.findall(rf"<<{marker.group(1)}>>(.*?)<</{marker.group(1)}>>", text, flags=re.DOTALL)
    assert any("Nordic Steel AB" in part for part in fenced_parts)
    outside = re.sub(rf"<<{marker.group(1)}>>.*?<</{marker.group(1)}>>", "", text, flags=re.DOTALL)
    assert "Nordic Steel AB" not in outside


async def test_payments_approver_must_not_be_the_requester(admin_url: str) -> None:
    # fred holding both finance and approver roles: he may request and approve payments, never his own.
    fred = identity_from_roles(tenant_id="acme", user_id="fred@acme", roles=frozenset({"finance", "approver"}))
    release = await _defer("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    refund = await _defer(
        "payments", "fred@acme", "issue_refund", {"charge_id": ACME_PARTLY_REFUNDED, "amount": "10.00"}
    )
    before = await snapshot(admin_url, "payments")
    for pending in (release, refund):
        refused = await _decide("payments", fred, pending["approval_id"], "approve")
        assert refused.is_error is True and "separation of duties" in refused.content[0].text
    assert await snapshot(admin_url, "payments") == before
    released = await _decide("payments", "priya@acme", release["approval_id"], "approve")
    assert released.is_error is False, released.content
    assert released.structured_content["result"]["status"] == "released"
    assert await admin_rows(
        admin_url, "SELECT status, released_by FROM payments.payments WHERE id = :i", i=ACME_PENDING
    ) == [("released", "fred@acme")]
    refunded = await _decide("payments", "priya@acme", refund["approval_id"], "approve")
    assert refunded.is_error is False, refunded.content
    assert await admin_rows(
        admin_url,
        "SELECT amount, issued_by FROM payments.refunds WHERE id = :i",
        i=refunded.structured_content["result"]["id"],
    ) == [(Decimal("10.00"), "fred@acme")]
    [(decided_by, status)] = await admin_rows(
        admin_url, "SELECT decided_by, status FROM payments.pending_approvals WHERE id = :i", i=refund["approval_id"]
    )
    assert (decided_by, status) == ("priya@acme", "executed")


@pytest.mark.slow
async def test_the_cli_approves_over_stdio_end_to_end(admin_url: str) -> None:
    pending = await _defer("inventory", "alice@acme", "create_reorder", REORDER)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env["SUPPLYCHAIN_HOME"] = os.environ["SUPPLYCHAIN_HOME"]
    command = [sys.executable, "-m", "shared.cli", "approvals"]
    listed = await anyio.run_process(
        [*command, "list", "--as", "priya@acme", "--server", "inventory"], env=env, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert pending["approval_id"] in listed.stdout.decode()
    refused = await anyio.run_process(
        [*command, "approve", pending["approval_id"], "--as", "alice@acme", "--server", "inventory"],
        env=env,
        check=False,
    )
    assert refused.returncode == 1 and b"inventory:approve" in refused.stderr
    done = await anyio.run_process(
        [*command, "approve", pending["approval_id"], "--as", "priya@acme", "--server", "inventory"],
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{pending['approval_id']}: executed by priya@acme" in done.stdout.decode()
    rows = await admin_rows(
        admin_url, "SELECT requested_by FROM inventory.reorders WHERE sku = 'TAPE-48' AND quantity = 321"
    )
    assert rows == [("alice@acme",)]
