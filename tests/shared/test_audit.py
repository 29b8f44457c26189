"""The audit trail: one record per call (refusals too), written with its effect, append-only, chained."""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from securemcp.audit.chain import verify_chains
from securemcp.audit.records import canonical_json, redact_arguments
from securemcp.identity.principal import identity_from_roles
from sqlalchemy import text

from deployment.policy import POLICY
from supplychain.admin import admin_engine
from tests.helpers import Human, admin_rows, mcp_client, snapshot

pytestmark = pytest.mark.usefixtures("seeded")

COLUMNS = "tool, user_id, transport, decision, outcome, detail, arguments"


async def _records_since(admin_url: str, seq: int, schema: str = "inventory") -> list[tuple[Any, ...]]:
    return await admin_rows(admin_url, f"SELECT {COLUMNS} FROM {schema}.audit_log WHERE seq > :s ORDER BY seq", s=seq)


async def _last_seq(admin_url: str, schema: str = "inventory") -> int:
    return (await admin_rows(admin_url, f"SELECT coalesce(max(seq), 0) FROM {schema}.audit_log"))[0][0]


async def test_every_call_leaves_exactly_one_record_refusals_included(admin_url: str) -> None:
    start = await _last_seq(admin_url)
    async with mcp_client("inventory", "alice@acme", human=Human("decline")) as client:
        await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"})
        await client.call_tool("get_stock_level", {"sku": "bolt m8", "warehouse": "AMS-1"})
        await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1", "tenant_id": "globex"})
        await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 5})
        with pytest.raises(MCPError, match=r"^Unknown tool: no_such_tool$"):  # -32602, tests/http/test_unknown_tool.py
            await client.call_tool("no_such_tool", {})
    async with mcp_client("inventory", "ana@acme") as client:
        with pytest.raises(MCPError):
            await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 5})
    async with mcp_client("inventory", "alice@acme", human=None) as client:
        pending = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 5})
    assert pending.structured_content is not None
    rows = await _records_since(admin_url, start)
    summary = [(tool, user, transport, decision, outcome) for tool, user, transport, decision, outcome, *_ in rows]
    assert summary == [
        ("get_stock_level", "alice@acme", "stdio", "not_required", "ok"),
        ("get_stock_level", "alice@acme", "stdio", "not_required", "error"),
        ("get_stock_level", "alice@acme", "stdio", "not_required", "refused"),
        # 2026-07-28: the first round asks the human and ends there; the retry carries the answer.
        ("create_reorder", "alice@acme", "stdio", "pending", "ok"),
        ("create_reorder", "alice@acme", "stdio", "declined", "refused"),
        ("no_such_tool", "alice@acme", "stdio", "not_required", "refused"),
        ("create_reorder", "ana@acme", "stdio", "not_required", "refused"),
        # A client that cannot be asked: an out-of-band approval is recorded as pending instead.
        ("create_reorder", "alice@acme", "stdio", "pending", "ok"),
    ]
    details = [detail for *_, detail, _arguments in rows]
    assert "unknown argument(s) for get_stock_level: 'tenant_id'" in details[2]
    assert details[5] == "Unknown tool: no_such_tool"
    assert details[6] == "missing scope inventory:reorder"


async def test_an_approved_side_effect_and_its_record_commit_together(admin_url: str) -> None:
    start = await _last_seq(admin_url)
    arguments = {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 7}
    async with mcp_client("inventory", "alice@acme", human=Human()) as client:
        created = (await client.call_tool("create_reorder", arguments)).structured_content
    assert created is not None
    [(tool, decision, outcome, digest, stored)] = await admin_rows(
        admin_url,
        "SELECT tool, decision, outcome, arguments_sha256, arguments FROM inventory.audit_log "
        "WHERE seq > :s AND decision <> 'pending'",
        s=start,
    )
    assert (tool, decision, outcome, stored) == ("create_reorder", "approved", "ok", arguments)
    assert digest == hashlib.sha256(canonical_json(arguments).encode()).hexdigest()


async def test_if_the_record_cannot_be_written_the_side_effect_is_undone(admin_url: str) -> None:
    before = await snapshot(admin_url, "inventory")
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("REVOKE INSERT ON inventory.audit_log FROM inventory_svc")
        async with mcp_client("inventory", "alice@acme", human=Human()) as client:
            result = await client.call_tool("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 9})
    finally:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("GRANT INSERT ON inventory.audit_log TO inventory_svc")
        await engine.dispose()
    assert result.is_error is True
    assert result.content[0].text == "create_reorder could not be recorded in the audit trail; nothing changed"
    assert await snapshot(admin_url, "inventory") == before


@pytest.mark.parametrize("statement", [
    "UPDATE inventory.audit_log SET outcome = 'ok'",
    "DELETE FROM inventory.audit_log",
    "TRUNCATE inventory.audit_log",
])  # fmt: skip
async def test_the_server_role_cannot_change_or_remove_records(server_urls: dict[str, str], statement: str) -> None:
    from securemcp.tenancy.database import create_engine
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(server_urls["inventory"])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied"):
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "statement", ["UPDATE inventory.audit_log SET outcome = 'ok'", "DELETE FROM inventory.audit_log"]
)
async def test_even_the_admin_cannot_change_records_while_the_trigger_stands(admin_url: str, statement: str) -> None:
    from sqlalchemy.exc import DBAPIError

    async with mcp_client("inventory", "ana@acme") as client:
        await client.call_tool("list_warehouses", {})
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="audit_log is append-only"):
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def test_verify_names_the_first_record_altered_behind_the_triggers_back(admin_url: str) -> None:
    async with mcp_client("inventory", "ana@acme") as client:
        for _ in range(3):
            await client.call_tool("list_warehouses", {})
    engine = admin_engine(admin_url)
    [(seq, record_id, original)] = await admin_rows(
        admin_url,
        "SELECT seq, id, detail FROM inventory.audit_log WHERE tenant_id = 'acme' ORDER BY seq DESC LIMIT 1 OFFSET 1",
    )

    async def tamper(detail: str | None) -> None:
        """What a superuser can do: switch the triggers off and edit a record."""
        async with engine.connect() as conn:  # the admin engine autocommits: a session setting, then reset
            await conn.exec_driver_sql("SET session_replication_role = replica")  # ordinary triggers off
            await conn.execute(
                text("UPDATE inventory.audit_log SET detail = :d WHERE seq = :s"), {"d": detail, "s": seq}
            )
            await conn.exec_driver_sql("RESET session_replication_role")

    try:
        assert (await verify_chains(engine, "inventory"))[1] == []
        await tamper("nothing to see")
        _checked, broken = await verify_chains(engine, "inventory")
        command = [sys.executable, "-m", "supplychain.cli", "audit", "verify", "--server", "inventory"]
        cli = await anyio.run_process(command, check=False, env=_admin_env(admin_url))
    finally:
        await tamper(original)
        restored = await verify_chains(engine, "inventory")
        await engine.dispose()
    assert [(link.tenant_id, link.seq, link.record_id) for link in broken] == [("acme", seq, record_id)]
    assert broken[0].reason == "content does not match its hash (the record was altered)"
    assert cli.returncode == 1
    assert f"inventory: BROKEN at tenant acme, record {record_id} (seq {seq})" in cli.stdout.decode()
    assert restored[1] == []


def _admin_env(admin_url: str) -> dict[str, str]:
    import os

    return {**os.environ, "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url}


async def test_concurrent_calls_of_one_tenant_keep_one_linear_chain(admin_url: str) -> None:
    engine = admin_engine(admin_url)
    async with mcp_client("inventory", "ana@acme") as client, anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(client.call_tool, "list_warehouses", {})
    try:
        checked, broken = await verify_chains(engine, "inventory")
    finally:
        await engine.dispose()
    assert broken == [] and checked >= 20


async def test_the_activity_log_shows_an_auditor_their_own_tenant_only(admin_url: str) -> None:
    async with mcp_client("inventory", "bob@globex") as client:
        await client.call_tool("list_warehouses", {})
    async with mcp_client("inventory", "ana@acme") as client:
        await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"})
    async with mcp_client("inventory", "audrey@acme") as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        page = (await client.call_tool("get_activity_log", {"limit": 100})).structured_content
        mine = (await client.call_tool("get_activity_log", {"tool": "get_activity_log"})).structured_content
    assert names == ["get_activity_log"]
    assert page is not None and mine is not None
    assert {item["user_id"].split("@")[1] for item in page["items"]} == {"acme"}
    latest = next(item for item in page["items"] if item["tool"]["text"] == "get_stock_level")
    # What the caller sent comes back as untrusted text (`securemcp.gate.activity`): here, the stored JSON.
    assert latest["user_id"] == "ana@acme" and latest["arguments"]["text"] == '{"sku":"BOLT-M8","warehouse":"AMS-1"}'
    assert mine["items"][0]["tool"]["text"] == "get_activity_log"  # reading the log is itself recorded


async def test_the_activity_log_needs_audit_read() -> None:
    async with mcp_client("inventory", "alice@acme") as client:
        with pytest.raises(MCPError, match="requires scope 'audit:read'"):
            await client.call_tool("get_activity_log", {})


async def test_arguments_are_redacted_by_field_policy() -> None:
    long = "x" * 500
    redacted = redact_arguments({"sku": "BOLT-M8", "api_key": "k-123", "password": "p", "note": long})
    assert redacted["sku"] == "BOLT-M8" and redacted["api_key"] == "[redacted]" and redacted["password"] == "[redacted]"
    assert redacted["note"].startswith("x" * 200) and "500 chars, sha256" in redacted["note"]


async def test_globex_records_chain_separately(admin_url: str) -> None:
    rick = identity_from_roles(policy=POLICY, tenant_id="globex", user_id="rick@globex", roles=frozenset({"auditor"}))
    async with mcp_client("inventory", rick) as client:
        page = (await client.call_tool("get_activity_log", {})).structured_content
    # Every record rick sees is one of globex's (user ids need not name their tenant: a company IdP's
    # subjects are UUIDs), and there are some.
    assert page is not None and page["items"]
    ids = [item["id"] for item in page["items"]]
    tenants = await admin_rows(
        admin_url, "SELECT DISTINCT tenant_id FROM inventory.audit_log WHERE id = ANY(:ids)", ids=ids
    )
    assert tenants == [("globex",)]
