"""From a clean copy of this checkout: `supplychain new-server procurement`, then its tests pass.

The copy is what a team gets from a clone: the files git tracks, plus this checkout's uncommitted and
untracked ones (so the test checks the code as it is now), committed in a fresh repository. The
scaffold runs there with this interpreter and `PYTHONPATH` pointing at the copy (no second virtual
environment), then the new server's own tests and the cross-server tests that take the registry run
there in a child pytest with its own embedded Postgres. Finally `git status` must show only the new
server's files plus the registry and policy lines: nothing else was edited.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from supplychain.scaffold.writer import CLI_MODULE

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# Cross-server tests that read the registry (and tests/<server>/cases.py) and must now cover procurement.
CROSS_SERVER_TESTS = [
    "tests/shared/test_tool_snapshots.py",
    "tests/shared/test_migrations.py",
    "tests/shared/test_registry.py",
    "tests/shared/test_identity.py",
    "tests/shared/test_side_effect_coverage.py",
    "tests/test_loadtest_workloads.py",
    "tests/deploy/test_compose.py",
]
# Cross-server tests that parametrise over every tool or server: their ids name the server, so `-k procurement`
# runs only the new server's cases (the others are run by the main suite).
PER_SERVER_TESTS = [
    "tests/shared/test_idempotency.py",
    "tests/shared/test_side_effect_approvals.py",
    "tests/fuzz/test_tool_inputs.py",
    "tests/http/test_metadata.py",
]
EXPECTED_STATUS = {
    "?? servers/procurement/",
    "?? migrations/versions/procurement_0001_initial.py",
    "?? fixtures/procurement.py",
    "?? tests/procurement/",
    "?? tests/snapshots/procurement_tools.json",
    " M deployment/registry.py",
    " M deployment/policy.py",
    "?? loadtest/workloads/procurement.py",
    " M compose.yaml",
}


def _git(cwd: Path, *arguments: str) -> str:
    git = shutil.which("git")
    assert git is not None
    done = subprocess.run([git, "-c", "user.name=t", "-c", "user.email=t@example.invalid", *arguments],
                          cwd=cwd, capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """This checkout's files (tracked and untracked, not ignored) in a fresh, committed repository."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout to copy from")
    copy = tmp_path / "clone"
    for name in _git(REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0"):
        source = REPO / name
        if name and source.is_file():  # a file deleted in the work tree is not in the copy
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    _git(copy, "commit", "-q", "-m", "a fresh clone")
    return copy


def _run_in(copy: Path, *arguments: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env["PYTHONPATH"] = str(copy)  # the copy's packages before this checkout's (installed in editable mode)
    return subprocess.run([sys.executable, *arguments], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def test_new_server_passes_its_own_and_the_cross_server_tests_with_no_other_edit(clone: Path) -> None:
    made = _run_in(clone, "-m", CLI_MODULE, "new-server", "procurement", timeout=120)
    assert made.returncode == 0, made.stderr
    written = [line.removeprefix("wrote ") for line in made.stdout.splitlines() if line.startswith("wrote ")]
    # 15 new files, the registry and policy edits, the tool snapshot and compose.yaml
    assert len(written) == 19, written

    assert set(_git(clone, "status", "--porcelain").splitlines()) == EXPECTED_STATUS
    # Every grant the scaffold made is printed, exactly as written to deployment/policy.py, and nothing else was.
    printed = [line.strip() for line in made.stdout.splitlines() if line.strip().startswith("_grants[")]
    added = [line[1:] for line in _git(clone, "diff", "-U0", "deployment/policy.py").splitlines()
             if line.startswith("+") and not line.startswith("+++")]  # fmt: skip
    assert (
        printed == added and '_grants["supply_chain_manager"] |= {"procurement:read", "procurement:write"}' in printed
    )
    assert "Edit or delete those lines" in made.stdout

    tested = _run_in(
        clone, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/procurement", *CROSS_SERVER_TESTS, timeout=400
    )
    assert tested.returncode == 0, tested.stdout[-4000:]
    assert " passed" in tested.stdout and "failed" not in tested.stdout and "error" not in tested.stdout
    collected = _run_in(clone, "-m", "pytest", "--collect-only", "-q", *CROSS_SERVER_TESTS, timeout=60).stdout
    assert "test_tool_list_matches_the_reviewed_snapshot[procurement]" in collected

    selected = _run_in(
        clone, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "-k", "procurement",
        *PER_SERVER_TESTS, timeout=60,
    ).stdout  # fmt: skip
    ids = [line for line in selected.splitlines() if "::" in line]
    for path in PER_SERVER_TESTS:  # each file covers the new server, so `-k` cannot silently select nothing
        assert any(test_id.startswith(f"{path}::") and "procurement" in test_id for test_id in ids), (path, selected)
    per_server = _run_in(
        clone, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "procurement", *PER_SERVER_TESTS, timeout=400
    )
    assert per_server.returncode == 0, per_server.stdout[-4000:]
    summary = per_server.stdout.strip().splitlines()[-1]
    assert re.search(rf"\b{len(ids)} passed\b", summary) and "skipped" not in summary, summary

    assert set(_git(clone, "status", "--porcelain").splitlines()) == EXPECTED_STATUS  # the tests wrote nothing
