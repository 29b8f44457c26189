"""The server role cannot choose an audit record's `seq`: chain order is the order records were inserted in.

`audit_log.seq` orders each tenant's chain. Were the server role able to pick it (an identity column
still takes `INSERT ... OVERRIDING SYSTEM VALUE` from any role with INSERT), one record with a huge
`seq` would become its tenant's head for ever: every later record chains to it but sorts before it,
so the chain reads as broken from then on. A trigger draws `seq` from the sequence for every insert
(`securemcp.schema.audit_seq`), whatever the statement says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from securemcp.audit.chain import BrokenLink, record_hash, verify_chains
from securemcp.runtime.unit_of_work import CallUnitOfWork
from securemcp.tenancy.database import create_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from supplychain.admin import admin_engine
from tests.helpers import admin_rows
from tests.shared.checkpoint_attacks import as_superuser, calls, tenant_identity

pytestmark = pytest.mark.usefixtures("seeded")

CHOSEN_SEQ = 9_000_000_000_000  # far beyond any seq the sequence will hand out


def _chained_record(who: Any, previous: str) -> dict[str, Any]:
    """A well-formed record of `who`, chained to `previous`, as the server itself would write it."""
    call = CallUnitOfWork(schema="inventory", tool="list_warehouses", arguments={}, identity=who,
                          transport="http", request_id=None, side_effect=False)  # fmt: skip
    record = call.record(outcome="ok", detail=None, output_bytes=0)
    return {**record, "arguments": "{}", "prev_hash": previous, "hash": record_hash(previous, record)}


async def test_the_server_role_cannot_choose_a_records_seq_and_the_chain_stays_whole(
    admin_url: str, server_urls: dict[str, str], sink: Path
) -> None:
    who = tenant_identity("seq")
    try:
        await calls(who, 1)
        [(head,)] = await admin_rows(
            admin_url, "SELECT hash FROM inventory.audit_log WHERE tenant_id = :t", t=who.tenant_id
        )
        record = await _insert_with_a_chosen_seq(server_urls["inventory"], _chained_record(who, head))
        await calls(who, 1)  # the server carries on: its next record chains to the inserted one
        checked, broken = await _verify_chain(admin_url, who.tenant_id)
        in_seq_order = await admin_rows(
            admin_url, "SELECT id, seq FROM inventory.audit_log WHERE tenant_id = :t ORDER BY seq", t=who.tenant_id
        )
    finally:  # whatever happened, later tests' `audit verify` must not meet this tenant's records
        await as_superuser(admin_url, "DELETE FROM inventory.audit_log WHERE tenant_id = :t", t=who.tenant_id)
    assert ([link.reason for link in broken], checked) == ([], 3)
    assert [record_id for record_id, _seq in in_seq_order][1] == record["id"]  # between the two calls' records
    assert CHOSEN_SEQ not in [seq for _id, seq in in_seq_order]


async def _insert_with_a_chosen_seq(server_url: str, record: dict[str, Any]) -> dict[str, Any]:
    """As the server role, under the record's tenant: INSERT ... OVERRIDING SYSTEM VALUE with `CHOSEN_SEQ`."""
    columns = ", ".join(record)
    values = ", ".join(f"CAST(:{name} AS jsonb)" if name == "arguments" else f":{name}" for name in record)
    engine = create_engine(server_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": record["tenant_id"]})
            await conn.execute(
                text(f"INSERT INTO inventory.audit_log (seq, {columns}) OVERRIDING SYSTEM VALUE "
                     f"VALUES ({CHOSEN_SEQ}, {values})"),
                record,
            )  # fmt: skip
    finally:
        await engine.dispose()
    return record


async def _verify_chain(admin_url: str, tenant: str) -> tuple[int, list[BrokenLink]]:
    engine = admin_engine(admin_url)
    try:
        return await verify_chains(engine, "inventory", tenants=[tenant])
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "statement", ["SELECT nextval('inventory.audit_log_seq_seq')", "SELECT setval('inventory.audit_log_seq_seq', 1)"]
)
async def test_the_server_role_holds_no_privilege_on_the_sequence(server_urls: dict[str, str], statement: str) -> None:
    """A guard: the trigger draws as the schema owner, so the server role cannot skip or rewind numbers."""
    engine = create_engine(server_urls["inventory"])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied for sequence audit_log_seq_seq"):
                await conn.execute(text(statement))
    finally:
        await engine.dispose()
