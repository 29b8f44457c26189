"""Pending approvals: a call not settled in band is recorded as asked, and only a person on the page decides it."""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import pytest
from mcp import Client
from securemcp.errors import ConflictError, DeciderRefusedError, NotFoundError
from sqlalchemy import text

from supplychain.admin import admin_engine
from supplychain.servers import server_parameters
from tests.helpers import Human, admin_rows, decide_as, decider, mcp_client, snapshot, without_approvals
from tests.payments.builders import ACME_PENDING

pytestmark = pytest.mark.usefixtures("seeded")

REORDER = {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 321}


async def _defer(server: str, user: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with mcp_client(server, user, human=None) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content
    assert result.structured_content is not None and result.structured_content["status"] == "pending"
    return result.structured_content


async def test_pending_records_the_exact_request_and_changes_nothing_else(admin_url: str) -> None:
    before = await snapshot(admin_url, "inventory")
    pending = await _defer("inventory", "alice@acme", "create_reorder", REORDER)
    assert without_approvals(await snapshot(admin_url, "inventory")) == without_approvals(before)
    [(tenant, user, tool, arguments, status, level)] = await admin_rows(
        admin_url,
        "SELECT tenant_id, requested_by, tool, arguments, status, level FROM inventory.pending_approvals WHERE id = :i",
        i=pending["approval_id"],
    )
    assert (tenant, user, tool, arguments, status) == ("acme", "alice@acme", "create_reorder", REORDER, "pending")
    assert level == "confirm"  # a confirm call whose client cannot be asked: the requester decides on the page
    assert pending["summary"].startswith("Create a purchase reorder of 321 x TAPE-48")
    [(decision, approval_id)] = await admin_rows(
        admin_url,
        "SELECT decision, approval_id FROM inventory.audit_log WHERE approval_id = :i",
        i=pending["approval_id"],
    )
    assert (decision, approval_id) == ("pending", pending["approval_id"])


async def test_the_requester_decides_a_confirm_approval_on_the_page_and_it_runs_as_recorded(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    pending = await _defer("inventory", "alice@acme", "create_reorder", REORDER)
    with pytest.raises(DeciderRefusedError, match=r"\(confirm\) can be decided only by its requester"):
        await decide_as(server_urls, "inventory", decider("priya@acme"), pending["approval_id"], "approve")
    decided = await decide_as(server_urls, "inventory", decider("alice@acme"), pending["approval_id"], "approve")
    assert (decided.status, decided.decided_by) == ("executed", "alice@acme")
    rows = await admin_rows(
        admin_url,
        "SELECT tenant_id, sku, warehouse_code, quantity, requested_by FROM inventory.reorders "
        "WHERE sku = 'TAPE-48' AND quantity = 321",
    )
    assert rows == [("acme", "TAPE-48", "AMS-1", 321, "alice@acme")]
    async with mcp_client("inventory", "alice@acme", human=None) as client:
        seen = (await client.call_tool("get_approval", {"approval_id": pending["approval_id"]})).structured_content
    assert seen is not None and seen["status"] == "executed" and seen["result"]["quantity"] == 321


async def test_an_expired_approval_cannot_be_decided(admin_url: str, server_urls: dict[str, str]) -> None:
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
    with pytest.raises(ConflictError, match=f"approval '{pending['approval_id']}' expired at "):
        await decide_as(server_urls, "inventory", decider("alice@acme"), pending["approval_id"], "approve")
    assert await snapshot(admin_url, "inventory") == before


async def test_get_approval_of_another_tenant_is_indistinguishable_from_a_missing_one() -> None:
    pending = await _defer("inventory", "bob@globex", "create_reorder", REORDER)
    async with mcp_client("inventory", "priya@acme") as client:
        foreign = await client.call_tool("get_approval", {"approval_id": pending["approval_id"]})
        missing = await client.call_tool("get_approval", {"approval_id": "ap_" + "0" * 20})
    assert foreign.is_error is True and missing.is_error is True
    assert foreign.content[0].text.replace(pending["approval_id"], "ID") == missing.content[0].text.replace(
        "ap_" + "0" * 20, "ID"
    )


async def test_a_pending_answer_keeps_outside_text_apart_and_fenced() -> None:
    async with mcp_client("payments", "fred@acme", human=None) as client:
        result = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    status = result.structured_content
    assert status is not None and "Nordic Steel AB" not in status["summary"]
    assert status["outside_text"]["supplier name"]["text"] == "Nordic Steel AB"
    body = result.content[0].text
    assert "<<untrusted-" in body and "Nordic Steel AB<</untrusted-" in body


@pytest.mark.slow
async def test_four_eyes_over_stdio_with_an_auto_yes_client_releases_nothing(admin_url: str) -> None:
    before = await snapshot(admin_url, "payments")
    human = Human()
    async with Client(server_parameters("payments", "fred@acme"), elicitation_callback=human) as client:
        result = await client.call_tool("release_payment", {"payment_id": ACME_PENDING})
    assert result.structured_content is not None and result.structured_content["status"] == "pending"
    assert result.structured_content["level"] == "four_eyes" and human.questions == []
    assert without_approvals(await snapshot(admin_url, "payments")) == without_approvals(before)


@pytest.mark.slow
async def test_the_cli_lists_with_urls_and_decides_nothing(admin_url: str) -> None:
    pending = await _defer("payments", "fred@acme", "release_payment", {"payment_id": ACME_PENDING})
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env |= {"SUPPLYCHAIN_HOME": os.environ["SUPPLYCHAIN_HOME"], "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url}
    command = [sys.executable, "-m", "supplychain.cli", "approvals"]
    listed = await anyio.run_process([*command, "list", "--server", "payments", "--tenant", "acme"], env=env)
    shown = listed.stdout.decode()
    assert f"{pending['approval_id']}  four_eyes  release_payment  tenant acme  requested by fred@acme" in shown
    assert f"decide at http://127.0.0.1:8104/approvals/{pending['approval_id']}?tenant=acme\n" in shown
    other = await anyio.run_process([*command, "list", "--server", "payments", "--tenant", "globex"], env=env)
    assert other.stdout.decode().strip() == "payments: no pending approvals for tenant globex"
    before = await snapshot(admin_url, "payments")
    for attempt in (
        ["approve", pending["approval_id"], "--as", "priya@acme", "--server", "payments"],
        ["deny", pending["approval_id"], "--server", "payments"],
        ["list", "--as", "priya@acme", "--server", "payments"],
    ):
        refused = await anyio.run_process([*command, *attempt], env=env, check=False)
        assert refused.returncode == 2, attempt  # click: no such command or option
        assert b"No such command" in refused.stderr or b"No such option '--as'" in refused.stderr
    assert await snapshot(admin_url, "payments") == before


async def test_an_unknown_approval_id_is_not_found_for_the_page(server_urls: dict[str, str]) -> None:
    with pytest.raises(NotFoundError, match="no approval 'ap_00000000000000000000'"):
        await decide_as(server_urls, "inventory", decider("alice@acme"), "ap_" + "0" * 20, "approve")
