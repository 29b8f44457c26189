"""`audit verify`'s other findings, each provoked: a missing or miscounted record, no checkpoints at all,
a mistyped checkpoint file, a line naming no server, and a checkpoint flushed between insert and commit."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import securemcp.audit.batch
import securemcp.audit.records
from securemcp.audit.checkpoint_keys import ensure_signing_key
from securemcp.audit.checkpoints import CheckpointWriter, flush
from securemcp.runtime.unit_of_work import CallUnitOfWork
from securemcp.tenancy.database import create_engine

from supplychain.audit_commands import _first_line
from tests.shared.checkpoint_attacks import (
    calls,
    own_lines,
    removed_for_a_while,
    seqs,
    tenant_identity,
    verify_cli,
)

pytestmark = pytest.mark.usefixtures("seeded")


async def test_a_deleted_checkpointed_record_is_named_as_missing(admin_url: str, sink: Path) -> None:
    who = tenant_identity("missing")
    await calls(who, 2)  # a checkpoint at its second record
    await calls(who, 2)
    named = (await seqs(admin_url, who.tenant_id))[1]
    async with removed_for_a_while(admin_url, named):
        code, out = await verify_cli(admin_url)
    assert code == 1
    assert f"inventory: RECORD MISSING for tenant {who.tenant_id}: seq {named}, named by a checkpoint, is gone" in out


async def test_a_deleted_earlier_record_is_named_as_a_count_that_differs(admin_url: str, sink: Path) -> None:
    who = tenant_identity("count")
    await calls(who, 3)
    first, _, last = await seqs(admin_url, who.tenant_id)
    async with removed_for_a_while(admin_url, first):
        code, out = await verify_cli(admin_url)
    assert code == 1
    assert (f"inventory: RECORD COUNT DIFFERS for tenant {who.tenant_id}: 2 records up to seq {last}, "
            "its checkpoint says 3") in out  # fmt: skip


async def test_records_without_any_checkpoint_are_not_verified(admin_url: str, sink: Path) -> None:
    await calls(tenant_identity("unchecked"), 1)
    await anyio.Path(sink).unlink()  # a lost sink, or a new deployment before its first checkpoint
    code, out = await verify_cli(admin_url)
    assert code == 1
    assert "inventory: NOT VERIFIED: no checkpoints: none of its" in out
    assert "run `supplychain audit checkpoint`" in out and "intact" not in out


async def test_a_mistyped_checkpoints_path_is_an_error(admin_url: str, sink: Path) -> None:
    code, out = await verify_cli(admin_url, "--checkpoints", str(sink.with_name("checkpionts.jsonl")))
    assert code == 2
    assert "does not exist" in out and "intact" not in out


async def test_a_checkpoint_line_naming_an_unknown_server_is_named(admin_url: str, sink: Path) -> None:
    await anyio.Path(sink).write_text('{"server": "inventroy", "tenant": "acme"}\n')
    env = {**os.environ, "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url}
    done = await anyio.run_process([sys.executable, "-m", "supplychain.cli", "audit", "verify"], check=False, env=env)
    assert done.returncode == 1
    assert "checkpoints: a checkpoint line names an unknown server 'inventroy'" in done.stdout.decode()


async def test_a_flush_between_insert_and_commit_still_covers_the_record(
    server_urls: dict[str, str], sink: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background flush may run while a record is inserted but not committed; the tenant must stay due."""
    who = tenant_identity("race")
    writer = CheckpointWriter("inventory", key=ensure_signing_key("inventory"), sink_file=sink)
    engine = create_engine(server_urls["inventory"])
    real_append_all = securemcp.audit.batch.append_all

    async def flush_before_commit(connection: Any, schema: str, records: list[dict[str, Any]]) -> Any:
        rows = await real_append_all(connection, schema, records)
        await flush(writer, engine)  # what the background task may do in this gap
        return rows

    real_append = securemcp.audit.records.append

    async def append_then_flush(session: Any, schema: str, record: dict[str, Any]) -> Any:
        rows = await real_append(session, schema, record)
        await flush(writer, engine)  # the gap between a transaction's record and its commit
        return rows

    monkeypatch.setattr(securemcp.audit.batch, "append_all", flush_before_commit)  # the group commit's gap
    monkeypatch.setattr(securemcp.audit.records, "append", append_then_flush)
    covered = []
    try:
        for outcome in ("ok", "refused"):  # the group commit, then a record in a transaction of its own
            call = CallUnitOfWork(schema="inventory", tool="list_warehouses", arguments={}, identity=who,
                             transport="http", request_id=None, side_effect=False)  # fmt: skip
            await call.finish(engine, outcome=outcome, detail=None, output_bytes=0)
            await flush(writer, engine)  # the next flush after the commit covers the new record
            covered.append([line["records"] for line in own_lines(sink, who.tenant_id)][-1:])
    finally:
        await engine.dispose()
    assert covered == [[1], [2]]


async def test_a_failure_to_read_the_log_is_reported_without_its_credentials() -> None:
    """What `audit verify` prints for a server whose log it cannot read: one line, any password masked."""
    failure = RuntimeError("connection to postgresql://inventory_svc:not-the-password-0451@db/supplychain failed\nat")
    assert _first_line(failure) == "RuntimeError: connection to postgresql://inventory_svc:***@db/supplychain failed"
