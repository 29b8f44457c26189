"""The checkpoint signing key: never made by `audit checkpoint`, never paired with another's public key,
and rotatable without losing the old checkpoints."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from securemcp.audit.checkpoint_keys import ensure_signing_key, load_signing_key, public_key_file, signing_key_file
from securemcp.audit.checkpoints import CheckpointWriter
from securemcp.audit.verify import read_checkpoint_lines, verify_server
from securemcp.settings import SettingsError

from supplychain.admin import admin_engine
from tests.shared.checkpoint_attacks import (
    calls,
    tenant_identity,
)

pytestmark = pytest.mark.usefixtures("seeded")


async def test_audit_checkpoint_without_the_signing_key_refuses_and_signs_nothing(
    admin_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url, "SUPPLYCHAIN_HOME": str(tmp_path / "elsewhere"),
           "SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK": str(tmp_path / "checkpoints.jsonl")}  # fmt: skip
    command = [sys.executable, "-m", "supplychain.cli", "audit", "checkpoint", "--server", "inventory"]
    done = await anyio.run_process(command, env=env, check=False)
    assert done.returncode == 1
    assert f"no audit checkpoint key at {tmp_path / 'elsewhere' / 'secrets' / 'inventory.audit-key'}" in (
        done.stderr.decode()
    )
    assert not (tmp_path / "checkpoints.jsonl").exists()
    assert not (tmp_path / "elsewhere" / "secrets").exists()


async def test_a_public_key_of_another_pair_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_HOME", str(tmp_path))
    ensure_signing_key("inventory")
    other = Ed25519PrivateKey.generate().public_key()
    public_key_file("inventory").write_bytes(other.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(SettingsError, match="is not the public key of"):
        load_signing_key("inventory")
    with pytest.raises(SettingsError, match="is not the public key of"):
        ensure_signing_key("inventory")


async def test_checkpoints_of_a_rotated_key_still_verify(
    admin_url: str, sink: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = tenant_identity("rotated")
    await calls(who, 2)
    monkeypatch.setenv("SUPPLYCHAIN_HOME", str(tmp_path / "home"))  # a key pair of this test only
    rotated = tmp_path / "rotated.jsonl"
    admin = admin_engine(admin_url)
    try:
        before = CheckpointWriter("inventory", key=ensure_signing_key("inventory"), sink_file=rotated)
        await before.checkpoint(admin, [who.tenant_id])
        # The rotation of securemcp/audit/checkpoint_keys.py: keep the old public key under another name,
        # make a new pair.
        retired = public_key_file("inventory").with_name("inventory.audit-key.old.pub")
        public_key_file("inventory").rename(retired)
        signing_key_file("inventory").unlink()
        after = CheckpointWriter("inventory", key=ensure_signing_key("inventory"), sink_file=rotated)
        await after.checkpoint(admin, [who.tenant_id])
        lines = read_checkpoint_lines([rotated])[0]
        report = await verify_server(admin, "inventory", lines)
        retired.unlink()  # the old public key lost
        lost = await verify_server(admin, "inventory", lines)
    finally:
        await admin.dispose()
    assert before.key_id != after.key_id
    assert report.checkpoints == 2
    assert [problem for problem in report.problems if who.tenant_id in problem] == []
    assert [problem for problem in lost.problems if problem.startswith("BAD SIGNATURE")] == [
        f"BAD SIGNATURE on checkpoint 1 of writer '{before.writer_id}' (tenant '{who.tenant_id}'): "
        "not signed by inventory's key"
    ]
