"""Signed checkpoints outside the database, attacked as a superuser would: each attack is named by
`supplychain audit verify`, which exits 1 (on the main branch before checkpoints, every one passed).

Each test works on a tenant of its own and a checkpoint file of its own, so what it deletes touches
no other test.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securemcp.audit.chain import record_hash
from securemcp.audit.checkpoint_keys import ensure_signing_key
from securemcp.audit.checkpoints import CheckpointWriter, checkpointing
from securemcp.audit.verify import read_checkpoint_lines, verify_server
from securemcp.runtime.unit_of_work import CallUnitOfWork
from securemcp.settings import SettingsError
from securemcp.tenancy.database import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from supplychain.admin import admin_engine
from tests.helpers import mcp_client
from tests.shared.checkpoint_attacks import (
    as_superuser,
    calls,
    delete_tail,
    own_lines,
    seqs,
    tenant_identity,
    verify_cli,
)

pytestmark = pytest.mark.usefixtures("seeded")


async def test_an_untouched_chain_verifies_against_its_shutdown_checkpoint(admin_url: str, sink: Path) -> None:
    who = tenant_identity("clean")
    await calls(who, 3)
    [line] = [line for line in read_checkpoint_lines([sink])[0] if line["tenant"] == who.tenant_id]
    assert (line["server"], line["records"], line["n"] >= 1) == ("inventory", 3, True)
    assert line["last_seq"] == (await seqs(admin_url, who.tenant_id))[-1]
    code, out = await verify_cli(admin_url)
    assert code == 0, out
    assert "every chain intact and matching its" in out and who.tenant_id not in out


async def test_tail_deletion_is_named(admin_url: str, sink: Path) -> None:
    who = tenant_identity("tail")
    await calls(who, 3)  # its shutdown checkpoint covers these three
    await calls(who, 2)
    kept = await delete_tail(admin_url, who.tenant_id, keep=3)
    code, out = await verify_cli(admin_url)
    assert code == 1
    assert f"inventory: CHAIN SHORTER for tenant {who.tenant_id}: it ends at seq {kept} (3 records)" in out
    assert "intact" not in out
    # The survivors are covered by the first checkpoint, whose record still exists: not "not yet covered".
    assert not [line for line in out.splitlines() if "not yet covered" in line and who.tenant_id in line]


async def test_whole_chain_deletion_is_named(admin_url: str, sink: Path) -> None:
    who = tenant_identity("gone")
    await calls(who, 2)
    await as_superuser(admin_url, "DELETE FROM inventory.audit_log WHERE tenant_id = :t", t=who.tenant_id)
    code, out = await verify_cli(admin_url)
    assert code == 1
    assert f"inventory: CHAIN GONE for tenant {who.tenant_id}: checkpoints record 2 records" in out


async def test_a_rewritten_head_with_a_recomputed_hash_is_named(admin_url: str, sink: Path) -> None:
    who = tenant_identity("rewrite")
    await calls(who, 3)
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            head = text("SELECT * FROM inventory.audit_log WHERE tenant_id = :t ORDER BY seq DESC LIMIT 1")
            row = dict((await conn.execute(head, {"t": who.tenant_id})).mappings().one())
    finally:
        await engine.dispose()
    row["outcome"] = "refused"  # the chain still links: only the checkpoint remembers the old head
    await as_superuser(admin_url, "UPDATE inventory.audit_log SET outcome = 'refused', hash = :h WHERE seq = :s",
                       h=record_hash(row["prev_hash"], row), s=row["seq"])  # fmt: skip
    code, out = await verify_cli(admin_url)
    assert code == 1
    assert f"inventory: HEAD HASH DIFFERS for tenant {who.tenant_id}: the record at seq {row['seq']}" in out
    assert "BROKEN" not in out  # the hash chain alone sees nothing wrong


async def test_a_checkpoint_forged_with_another_key_is_refused(admin_url: str, sink: Path) -> None:
    who = tenant_identity("forged")
    await calls(who, 4)
    kept = await delete_tail(admin_url, who.tenant_id, keep=2)
    # The attacker signs checkpoints of the shortened chain with a key of their own.
    forger = CheckpointWriter("inventory", key=Ed25519PrivateKey.generate(), sink_file=sink)
    engine = admin_engine(admin_url)
    try:
        [forged] = await forger.checkpoint(engine, [who.tenant_id])
    finally:
        await engine.dispose()
    assert forged["last_seq"] == kept
    code, out = await verify_cli(admin_url)
    assert code == 1
    assert f"inventory: BAD SIGNATURE on checkpoint 1 of writer '{forger.writer_id}' (tenant '{who.tenant_id}'): " \
           "not signed by inventory's key" in out  # fmt: skip
    assert f"CHAIN SHORTER for tenant {who.tenant_id}" in out


async def test_verify_as_an_admin_bound_by_row_level_security_does_not_say_intact(admin_url: str, sink: Path) -> None:
    who = tenant_identity("managed")
    await calls(who, 2)
    # What a managed Postgres master user looks like: may create roles, owns nothing, no BYPASSRLS.
    role, password = f"managed_admin_{secrets.token_hex(3)}", secrets.token_urlsafe(24)
    database = make_url(admin_url).database
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            attributes = f"LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS PASSWORD '{password}'"
            await conn.exec_driver_sql(f"CREATE ROLE {role} {attributes}")
            await conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{database}" TO {role}')
            await conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA inventory TO {role}")
            await conn.exec_driver_sql(f"GRANT SELECT ON inventory.audit_log TO {role}")
        database_url = make_url(admin_url).set(username=role, password=password).render_as_string(hide_password=False)
        code, out = await verify_cli(admin_url, database_url=database_url)
    finally:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f"REVOKE ALL ON inventory.audit_log FROM {role}")
            await conn.exec_driver_sql(f"REVOKE ALL ON SCHEMA inventory FROM {role}")
            await conn.exec_driver_sql(f'REVOKE ALL ON DATABASE "{database}" FROM {role}')
            await conn.exec_driver_sql(f"DROP ROLE {role}")
        await engine.dispose()
    assert code == 1
    assert "intact" not in out
    assert f"inventory: NOT VERIFIED: role '{role}' is subject to row-level security" in out
    assert "CHAIN GONE" not in out  # the tenants named by checkpoints were read one by one, and are whole


async def test_replicas_keep_separate_checkpoint_sequences_and_a_removed_line_is_named(
    admin_url: str, server_urls: dict[str, str], sink: Path
) -> None:
    who, other = tenant_identity("replica"), tenant_identity("replica")
    await calls(who, 2)
    await calls(other, 1)
    key = ensure_signing_key("inventory")
    replicas = [CheckpointWriter("inventory", key=key, sink_file=sink) for _ in range(2)]
    engine = create_engine(server_urls["inventory"])  # as the servers do: their own role, tenant by tenant
    try:
        async with anyio.create_task_group() as group:
            for _round in range(3):
                for replica in replicas:
                    group.start_soon(replica.checkpoint, engine, [who.tenant_id, other.tenant_id])
    finally:
        await engine.dispose()
    assert sorted(replica.number for replica in replicas) == [6, 6]
    admin = admin_engine(admin_url)
    try:
        lines = read_checkpoint_lines([sink])[0]
        report = await verify_server(admin, "inventory", lines)
        assert report.problems == [] and report.unseen_reason is None
        removed = next(line for line in lines if line["writer"] == replicas[0].writer_id and line["n"] == 3)
        gapped = await verify_server(admin, "inventory", [line for line in lines if line is not removed])
    finally:
        await admin.dispose()
    assert gapped.problems == [
        f"CHECKPOINT GAP in writer {replicas[0].writer_id}: checkpoint 4 does not follow checkpoint 2 "
        "(a checkpoint line was removed, repeated or reordered)"
    ]


async def test_the_background_task_checkpoints_while_the_server_runs(
    admin_url: str, sink: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_AUDIT_CHECKPOINT_INTERVAL_SECONDS", "0.1")
    who = tenant_identity("interval")
    signed = anyio.Event()
    real_checkpoint = CheckpointWriter.checkpoint

    async def checkpoint_and_tell(writer: CheckpointWriter, engine: Any, tenants: Any) -> list[dict[str, Any]]:
        lines = await real_checkpoint(writer, engine, tenants)
        if any(line["tenant"] == who.tenant_id for line in lines):
            signed.set()
        return lines

    monkeypatch.setattr(CheckpointWriter, "checkpoint", checkpoint_and_tell)
    async with mcp_client("inventory", who) as client:
        await client.call_tool("list_warehouses", {})
        await signed.wait()  # set by the server's background task, while the client is still open
        assert [line["records"] for line in own_lines(sink, who.tenant_id)] == [1]


async def test_checkpoints_to_stdout_are_refused_over_stdio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK", "stdout")
    with pytest.raises(SettingsError, match="stdout is the MCP channel"):
        async with checkpointing("inventory", None, transport="stdio"):  # type: ignore[arg-type]
            pass


async def test_records_after_the_last_checkpoint_are_reported_until_audit_checkpoint_covers_them(
    admin_url: str, server_urls: dict[str, str], sink: Path
) -> None:
    who = tenant_identity("uncovered")
    await calls(who, 2)
    engine = create_engine(server_urls["inventory"])
    try:  # three more records, written by no running server: no checkpoint covers them yet
        for _ in range(3):
            call = CallUnitOfWork(schema="inventory", tool="list_warehouses", arguments={}, identity=who,
                             transport="http", request_id=None, side_effect=False)  # fmt: skip
            await call.finish(engine, outcome="ok", detail=None, output_bytes=0)
    finally:
        await engine.dispose()
    code, out = await verify_cli(admin_url)
    assert code == 0, out
    assert f"{who.tenant_id} 3" in out.split("not yet covered")[1]
    env = {**os.environ, "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url}
    command = [sys.executable, "-m", "supplychain.cli", "audit", "checkpoint", "--server", "inventory"]
    done = await anyio.run_process(command, check=False, env=env)
    assert done.returncode == 0 and f"checkpoints signed and appended to {sink}" in done.stdout.decode()
    [newest] = [line for line in read_checkpoint_lines([sink])[0] if line["tenant"] == who.tenant_id][-1:]
    assert (newest["records"], newest["writer"].split("/")[1]) == (5, "cli")
    code, out = await verify_cli(admin_url)
    assert code == 0 and who.tenant_id not in out
