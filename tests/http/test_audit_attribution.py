"""Over real HTTP, each audit record names the token (its `jti`), the trace and the client address, and every
committed record leaves as one JSON line with its hash on the SIEM sink, never with a token in it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from securemcp.audit.chain import record_hash
from securemcp.audit.export import close_export, configure_export
from securemcp.settings import SettingsError

from deployment.registry import SERVERS
from idp.tokens import Subject
from supplychain.admin import admin_engine
from supplychain.review import ReviewSettings, review_servers
from tests.helpers import admin_rows
from tests.http.clients import mcp_client
from tests.http.rpc import call_tool
from tests.http.stack import Stack
from tests.http.tokens import claims_of, flow_token, mint

pytestmark = pytest.mark.usefixtures("seeded")

STOCK = {"sku": "BOLT-M8", "warehouse": "AMS-1"}


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "siem" / "audit.jsonl"
    path.parent.mkdir()
    configure_export(str(path), transport="http")
    yield path
    close_export()


async def _records_of(admin_url: str, token_id: str) -> list[dict[str, Any]]:
    columns = "id, tool, outcome, detail, token_id, trace_id, client_address, prev_hash, hash"
    sql = f"SELECT {columns} FROM inventory.audit_log WHERE token_id = :t ORDER BY seq"
    return [dict(zip(columns.split(", "), row, strict=True)) for row in await admin_rows(admin_url, sql, t=token_id)]


async def test_records_name_the_token_trace_and_address_and_leave_on_the_sink_without_the_token(
    stack: Stack, admin_url: str, sink: Path
) -> None:
    inventory = stack["inventory"]
    tokens = await flow_token(stack.idp, user="alice@acme", server="inventory", scope="inventory:read")
    token = tokens["access_token"]
    jti = claims_of(token)["jti"]
    async with mcp_client(inventory.url, token, headers={"X-Forwarded-For": "203.0.113.9"}) as client:
        await client.call_tool("get_stock_level", STOCK)
        # The token itself as an argument value: stored cut and hashed, so it cannot leave whole.
        await client.call_tool("get_stock_level", {"sku": token, "warehouse": "AMS-1"})
    async with httpx2.AsyncClient(timeout=10) as http:  # a step-up refusal, recorded by the HTTP layer
        refused = await call_tool(http, inventory.url, token, "create_reorder", {**STOCK, "quantity": 1})
    assert refused.status_code == 403

    records = await _records_of(admin_url, jti)
    assert [(r["tool"], r["outcome"]) for r in records] == [
        ("get_stock_level", "ok"), ("get_stock_level", "error"), ("create_reorder", "refused"),
    ]  # fmt: skip
    # The peer address: a client's own X-Forwarded-For is ignored unless the server trusts its sender.
    assert {r["client_address"] for r in records} == {"127.0.0.1"}
    assert all(r["trace_id"] is not None and len(r["trace_id"]) == 32 for r in records[:2])

    exported_text = await anyio.Path(sink).read_text()
    lines = [json.loads(line) for line in exported_text.splitlines()]
    exported = {line["id"]: line for line in lines}
    for record in records:
        line = exported[record["id"]]
        assert (line["hash"], line["prev_hash"], line["token_id"]) == (record["hash"], record["prev_hash"], jti)
        assert record_hash(line["prev_hash"], line) == line["hash"]  # a SIEM can re-check the chain
    assert token not in exported_text
    assert tokens.get("refresh_token", "<none>") not in exported_text


async def test_stdout_is_refused_as_a_sink_over_stdio() -> None:
    with pytest.raises(SettingsError, match="over stdio, stdout carries MCP messages"):
        configure_export("stdout", transport="stdio")
    with pytest.raises(SettingsError, match="absolute file path"):
        configure_export("audit.jsonl", transport="http")


async def test_the_activity_log_filters_by_token_and_outcome_within_the_tenant_only(stack: Stack) -> None:
    inventory = stack["inventory"]
    alice = mint(stack.idp, user="alice@acme", server="inventory")
    jti = claims_of(alice)["jti"]
    async with mcp_client(inventory.url, alice) as client:
        await client.call_tool("get_stock_level", STOCK)
        await client.call_tool("get_stock_level", {"sku": "NOPE-1", "warehouse": "AMS-1"})
    auditor = mint(stack.idp, user="audrey@acme", server="inventory")
    rick = Subject(sub="rick@globex", tenant_id="globex", roles=("auditor",))
    async with mcp_client(inventory.url, auditor) as client:
        by_token = (await client.call_tool("get_activity_log", {"token_id": jti})).structured_content
        errors = (await client.call_tool("get_activity_log", {"token_id": jti, "outcome": "error"})).structured_content
        bad = await client.call_tool("get_activity_log", {"token_id": "' OR 1=1 --"})
    async with mcp_client(inventory.url, mint(stack.idp, user=rick.sub, server="inventory", subject=rick)) as client:
        other_tenant = (await client.call_tool("get_activity_log", {"token_id": jti})).structured_content
    assert by_token is not None and errors is not None and other_tenant is not None
    assert [(item["tool"]["text"], item["outcome"], item["token_id"]) for item in by_token["items"]] == [
        ("get_stock_level", "error", jti), ("get_stock_level", "ok", jti),
    ]  # fmt: skip
    assert by_token["items"][0]["token_scope"] == claims_of(alice)["scope"]
    assert [item["outcome"] for item in errors["items"]] == ["error"]
    assert bad.is_error and "token_id" in bad.content[0].text  # type: ignore[union-attr]
    assert other_tenant["items"] == []  # the filter never reaches past the caller's tenant


async def test_a_token_used_from_two_addresses_is_flagged_by_the_review(stack: Stack, admin_url: str) -> None:
    inventory, start = stack["inventory"], datetime.now(UTC)
    token = mint(stack.idp, user="alice@acme", server="inventory")
    jti = claims_of(token)["jti"]
    elsewhere = httpx2.AsyncHTTPTransport(local_address="127.0.0.2")  # another loopback address: a second machine
    async with httpx2.AsyncClient(timeout=10) as here, httpx2.AsyncClient(timeout=10, transport=elsewhere) as there:
        assert (await call_tool(here, inventory.url, token, "list_warehouses")).status_code == 200
        assert (await call_tool(there, inventory.url, token, "list_warehouses")).status_code == 200
    engine = admin_engine(admin_url)
    try:
        lines, flagged = await review_servers(engine, SERVERS, start=start, tenant="acme", settings=ReviewSettings())
    finally:
        await engine.dispose()
    assert flagged
    assert (
        f"  FLAG token {jti} (alice@acme) used from 2 addresses (127.0.0.1, 127.0.0.2) by 1 client(s) (supplychain-cli)"
        in lines
    )
