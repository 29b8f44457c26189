"""The sink attacked together with the database: lines of one writer deleted, or an older sink restored,
each with the database's tail cut to match. Both leave every remaining checkpoint true of the shortened
chains, so only what links the checkpoints to each other, and what `audit verify` remembers, can tell.

Each test has a tenant, a sink and a verified-heads file of its own (the `sink` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securemcp.audit.checkpoint_keys import ensure_signing_key
from securemcp.audit.checkpoint_lines import checkpoint_hash, reference
from securemcp.audit.checkpoints import CheckpointWriter
from securemcp.audit.verify import read_checkpoint_lines
from securemcp.tenancy.database import create_engine

from tests.shared.checkpoint_attacks import calls, delete_tail, own_lines, tenant_identity, verify_cli

pytestmark = pytest.mark.usefixtures("seeded")


async def test_one_writers_lines_deleted_with_the_tail_leave_a_dangling_reference(admin_url: str, sink: Path) -> None:
    who, other = tenant_identity("writers"), tenant_identity("writers")
    await calls(who, 3)  # a first server process: its checkpoint covers three records
    await calls(who, 2)  # a second one: five
    await calls(other, 1)  # a third, checkpointing another tenant after both
    deleted = own_lines(sink, who.tenant_id)[-1]
    [follower] = own_lines(sink, other.tenant_id)
    code, out = await verify_cli(admin_url)
    assert code == 0, out

    # The attack: the second writer's lines go from the sink, its two records from the database.
    kept = [
        raw
        for raw in (await anyio.Path(sink).read_text()).splitlines()
        if json.loads(raw)["writer"] != deleted["writer"]
    ]
    await anyio.Path(sink).write_text("".join(f"{raw}\n" for raw in kept))
    await delete_tail(admin_url, who.tenant_id, keep=3)
    code, out = await verify_cli(admin_url)
    assert code == 1
    assert (
        f"inventory: CHECKPOINT MISSING: checkpoint 1 of writer {follower['writer']} follows checkpoint 1 of writer "
        f"{deleted['writer']} ({checkpoint_hash(deleted)[:16]}...), which is not among the checkpoints: "
        "a writer's lines were removed from the sink"
    ) in out.splitlines()
    assert "intact" not in out


async def test_an_older_sink_restored_with_the_tail_cut_is_named_as_gone_back(admin_url: str, sink: Path) -> None:
    who = tenant_identity("restored")
    await calls(who, 3)
    older = await anyio.Path(sink).read_bytes()  # a backup taken now
    code, out = await verify_cli(admin_url)
    assert code == 0, out
    await calls(who, 2)
    newest = read_checkpoint_lines([sink])[0][-1]
    code, out = await verify_cli(admin_url)  # remembers the newest checkpoint it verified
    assert code == 0, out

    # The attack: the backup put back in place of the sink, the two newer records deleted.
    await anyio.Path(sink).write_bytes(older)
    await delete_tail(admin_url, who.tenant_id, keep=3)
    code, out = await verify_cli(admin_url)
    assert code == 1
    assert (
        f"inventory: SINK WENT BACK: checkpoint {newest['n']} of writer {newest['writer']} "
        f"({checkpoint_hash(newest)[:16]}..., tenant {who.tenant_id}, seq {newest['last_seq']}), verified before, "
        "is not among the checkpoints: an older sink was restored or its newest lines were removed"
    ) in out.splitlines()
    assert "intact" not in out


async def test_a_writer_names_only_a_genuine_checkpoint_as_the_one_it_follows(
    admin_url: str, server_urls: dict[str, str], sink: Path
) -> None:
    who = tenant_identity("forged-after")
    await calls(who, 1)
    [genuine] = own_lines(sink, who.tenant_id)
    engine = create_engine(server_urls["inventory"])
    try:  # a line signed with a key of the attacker's own, then a real writer's checkpoint
        forger = CheckpointWriter("inventory", key=Ed25519PrivateKey.generate(), sink_file=sink)
        [forged] = await forger.checkpoint(engine, [who.tenant_id])
        writer = CheckpointWriter("inventory", key=ensure_signing_key("inventory"), sink_file=sink)
        [line] = await writer.checkpoint(engine, [who.tenant_id])
    finally:
        await engine.dispose()
    assert forged["after"] == reference(genuine)  # the forger reads the sink like any writer
    assert line["after"] == reference(genuine)  # the real one passes over the line it cannot check


async def test_a_verified_heads_file_that_cannot_be_read_fails_verify(admin_url: str, sink: Path) -> None:
    await calls(tenant_identity("heads-file"), 1)
    verified = sink.with_name("verified-heads.json")  # where the `sink` fixture points the CLI
    await anyio.Path(verified).write_text("{not json")
    code, out = await verify_cli(admin_url)
    assert code == 1
    assert out == (
        f"NOT VERIFIED: the heads verified before: {verified} cannot be read (Expecting property name enclosed in "
        "double quotes: line 1 column 2 (char 1)); restore it from its backup, or move it aside to start again "
        "from this verification\n"
    )
