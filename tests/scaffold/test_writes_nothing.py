"""A refused or failed `supplychain new-server` leaves the checkout exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from supplychain.cli import main
from supplychain.scaffold import writer
from supplychain.scaffold.names import ScaffoldError

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` with its text: compare two of them to prove nothing changed."""
    return {str(path.relative_to(root)): path.read_text(encoding="utf-8") for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A checkout with just the two deployment files the scaffold edits."""
    for relative in ("deployment/registry.py", "deployment/policy.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text((REPO / relative).read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_a_bad_name_on_the_command_line_exits_1_naming_the_reason_and_writing_nothing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "project_root", lambda: root)  # the command imports it from the writer when it runs
    before = _tree(root)
    result = CliRunner().invoke(main, ["new-server", "Procurement"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: 'Procurement' is not a valid server name")
    assert result.output.rstrip().endswith("; nothing was written")
    assert _tree(root) == before


def test_an_existing_folder_is_refused_before_anything_is_written(root: Path) -> None:
    (root / "tests" / "procurement").mkdir(parents=True)
    before = _tree(root)
    with pytest.raises(ScaffoldError, match=r"^tests/procurement already exists"):
        writer.plan("procurement", root)
    assert _tree(root) == before


def test_a_registry_without_its_marker_is_refused_not_guessed_at(root: Path) -> None:
    registry = root / "deployment" / "registry.py"
    registry.write_text(registry.read_text(encoding="utf-8").replace("adds its entries", "adds entries"), "utf-8")
    before = _tree(root)
    with pytest.raises(ScaffoldError, match=r"deployment/registry\.py has no line with"):
        writer.plan("procurement", root)
    assert _tree(root) == before


def test_a_step_that_fails_after_writing_undoes_every_file(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def snapshot_fails(root: Path, *arguments: str) -> None:
        (root / "tests" / "snapshots").mkdir(parents=True, exist_ok=True)
        (root / "tests" / "snapshots" / "procurement_tools.json").write_text("[]", encoding="utf-8")
        raise ScaffoldError("`supplychain tools snapshot --server procurement` failed: boom")

    monkeypatch.setattr(writer, "_run", snapshot_fails)
    before = _tree(root)
    the_plan = writer.plan("procurement", root)
    assert len(the_plan.created) == 15 and len(the_plan.edited) == 2
    with pytest.raises(ScaffoldError, match="boom"):
        writer.write(the_plan, root)
    assert _tree(root) == before
    assert sorted(path.name for path in root.iterdir()) == ["deployment"]  # folders it made are gone too
