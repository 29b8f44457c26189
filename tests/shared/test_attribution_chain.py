"""The attribution fields are part of the hash chain when set, and records written before them verify unchanged."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from securemcp.audit.chain import GENESIS, HASHED_FIELDS, record_hash
from securemcp.audit.records import canonical_json
from sqlalchemy import text

from supplychain.admin import admin_engine
from tests.helpers import admin_rows, mcp_client, verify_audit

pytestmark = pytest.mark.usefixtures("seeded")

OLD_RECORD = {
    "id": "au_old", "tenant_id": "acme", "occurred_at": datetime(2026, 11, 1, tzinfo=UTC), "request_id": None,
    "user_id": "alice@acme", "client_id": "local", "actor_kind": "mcp", "transport": "stdio", "tool": "list_warehouses",
    "arguments": {}, "arguments_sha256": "0" * 64, "decision": "not_required", "approval_id": None, "outcome": "ok",
    "detail": None, "output_bytes": 10, "latency_ms": 1,
}  # fmt: skip


async def test_a_record_without_attribution_hashes_exactly_as_before_the_fields_existed() -> None:
    fields = {**OLD_RECORD, "occurred_at": OLD_RECORD["occurred_at"].isoformat()}  # type: ignore[attr-defined]
    before = hashlib.sha256(f"{GENESIS}\n{canonical_json({n: fields[n] for n in HASHED_FIELDS})}".encode()).hexdigest()
    as_read_back = {**OLD_RECORD, "token_id": None, "token_scope": None, "trace_id": None, "client_address": None}
    assert record_hash(GENESIS, as_read_back) == before
    assert record_hash(GENESIS, {**as_read_back, "token_id": "local"}) != before


async def test_changing_a_records_token_id_breaks_its_chain(admin_url: str) -> None:
    async with mcp_client("inventory", "alice@acme") as client:
        await client.call_tool("list_warehouses", {})
    (record_id, token_id), *_ = await admin_rows(
        admin_url, "SELECT id, token_id FROM inventory.audit_log ORDER BY seq DESC LIMIT 1"
    )
    assert token_id == "local"
    engine = admin_engine(admin_url)

    async def set_token_id(value: str) -> None:
        async with engine.begin() as connection:  # a superuser disabling the append-only trigger
            await connection.execute(text("ALTER TABLE inventory.audit_log DISABLE TRIGGER audit_log_no_change"))
            await connection.execute(
                text("UPDATE inventory.audit_log SET token_id = :t WHERE id = :i"), {"t": value, "i": record_id}
            )
            await connection.execute(text("ALTER TABLE inventory.audit_log ENABLE TRIGGER audit_log_no_change"))

    try:
        await set_token_id("someone-elses-token")
        _, broken = await verify_audit(admin_url, "inventory")
        assert [(link.record_id, link.reason) for link in broken] == [
            (record_id, "content does not match its hash (the record was altered)")
        ]
    finally:
        await set_token_id(token_id)  # the session's other tests verify this chain too
        await engine.dispose()
    assert (await verify_audit(admin_url, "inventory"))[1] == []
