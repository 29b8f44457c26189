"""Fixtures of the tests in tests/shared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A checkpoint file of this test only, used by the in-process servers and by the CLI, and the file
    where `audit verify` remembers the newest checkpoints it verified in it."""
    path = tmp_path / "checkpoints.jsonl"
    monkeypatch.setenv("SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK", str(path))
    monkeypatch.setenv("SUPPLYCHAIN_AUDIT_VERIFIED_HEADS", str(tmp_path / "verified-heads.json"))
    yield path
