"""From a clean copy of this checkout: `supplychain new-server warranty`, a second side effect added by hand,
then the whole suite passes there.

The copy is what a team gets from a clone: the files git tracks, plus this checkout's uncommitted and
untracked ones (so the test checks the code as it is now), committed in a fresh repository. Everything
runs there as the README says, through `uv run` with the copy's own environment (`uv` makes it from
pyproject.toml with this interpreter, so no code of this checkout can stand in for the copy's).

`uv run supplychain new-server warranty`; `git status` must then show only the new server's files plus
the registry, policy and compose lines: nothing else was edited. A team then writes its domain: here,
one hand edit adds a second side-effecting tool whose argument is a list (`close_items`), the reviewed
tool snapshot is refreshed, and the server is committed. Then `uv run pytest` runs every test of the
copy (this one excepted, so it does not run itself again) with its own embedded Postgres, and must
pass: every cross-server test takes the new server and its new tool, and no test pins the example
servers. HAProxy, Chromium and the TypeScript SDK tests skip in the copy only where they would skip
here. Finally the tests wrote nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import PROGRAM_MARKERS

# It runs the whole suite a second time (about 11 minutes on 2 cores), so the README's test command
# leaves it out and `.ci/run` runs it as a step of its own: CI never passes without it.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("RUN_SCAFFOLD_END_TO_END") != "1",
        reason="reruns the whole suite in a scaffolded copy; .ci/run runs it (RUN_SCAFFOLD_END_TO_END=1)",
    ),
]

REPO = Path(__file__).resolve().parents[2]
THIS_TEST = Path(__file__).resolve().relative_to(REPO).as_posix()
# A valid name the scaffold's other tests do not take: they scaffold `procurement` into scratch folders
# (tests/scaffold/test_writes_nothing.py), which a registered procurement would refuse.
NAME = "warranty"
EXPECTED_STATUS = {
    f"?? servers/{NAME}/",
    f"?? migrations/versions/{NAME}_0001_initial.py",
    f"?? fixtures/{NAME}.py",
    f"?? tests/{NAME}/",
    f"?? tests/snapshots/{NAME}_tools.json",
    " M deployment/registry.py",
    " M deployment/policy.py",
    f"?? loadtest/workloads/{NAME}.py",
    " M compose.yaml",
}
WHOLE_SUITE_SECONDS = 3600  # about 15 minutes on 2 busy cores; the bound only stops a hung child

# ----------------------------------------------------------------------------------------------------------
# THE HAND EDIT: a second side-effecting tool, `close_items(item_ids: list[ItemId])`, declared the way the
# scaffold declares `close_item` (one `SideEffect` in tools.py: its arguments, the rows it locks, the
# question, the effect), its row in server.py's `TOOLS`, its `SideEffect` case in tests/<name>/cases.py,
# and the two generated tests that list the tools. When the way a side effect is declared changes,
# re-express these edits here, and nowhere else. Each edit is (file, text found exactly once, its
# replacement); `{name}` is the new server's name.
CLOSE_ITEMS = '''

@dataclass(frozen=True)
class CloseItems:
    """Close several open items at once. A human is asked to approve it first."""

    item_ids: Annotated[list[ItemId], Field(min_length=1, max_length=5, description="1 to 5 item ids")]


async def open_items(who: Identity, session: AsyncSession, request: CloseItems) -> list[Item]:
    """The items to close, locked; refused unless every one is still open."""
    return [await open_item(who, session, CloseItem(item_id=item_id)) for item_id in request.item_ids]


def close_items_question(items: list[Item], who: Identity) -> Question:
    """Every item as it stands, from trusted fields only."""
    named = ", ".join(f"{item.id} ({item.code})" for item in items)
    return Question(f"Close items {named} (organisation {who.tenant_id}, requested by {who.user_id}).")


async def close_all(who: Identity, session: AsyncSession, items: list[Item]) -> ItemPage:
    """Mark every locked item closed by `who`; the closed items, as one page."""
    return ItemPage(items=[await close(who, session, item) for item in items], next_cursor=None)


close_items = SideEffect(
    name="close_items",
    title="Close items",
    scope="{name}:write",
    arguments=CloseItems,
    lock=open_items,
    level="confirm",
    question=close_items_question,
    effect=close_all,
    annotations=CLOSE,
)
'''
SECOND_SIDE_EFFECT = [
    ("servers/{name}/tools.py", "    annotations=CLOSE,\n)\n", "    annotations=CLOSE,\n)\n" + CLOSE_ITEMS),
    (
        "servers/{name}/server.py",
        "    *common_tools(NAME),",
        "    tools.close_items,  # a second side effect, whose argument is a list\n    *common_tools(NAME),",
    ),
    (
        "tests/{name}/cases.py",
        '    "close_item": SideEffect(',
        '    "close_items": SideEffect("alice@acme", {"item_ids": [ACME_OPEN, ACME_OTHER_OPEN]}, '
        '{"item_ids": [ACME_OPEN]}),\n'
        '    "close_item": SideEffect(',
    ),
    (
        "tests/{name}/test_isolation.py",
        '("alice@acme", False, ["close_item", "get_approval", "list_items"])',
        '("alice@acme", False, ["close_item", "close_items", "get_approval", "list_items"])',
    ),
    (
        "tests/{name}/test_stdio.py",
        'assert names == ["list_items", "close_item", "get_approval"]',
        'assert names == ["list_items", "close_item", "close_items", "get_approval"]',
    ),
]  # fmt: skip
# ----------------------------------------------------------------------------------------------------------


def add_second_side_effect(root: Path) -> None:
    """Apply THE HAND EDIT to the scaffolded server under `root`."""
    for relative, old, new in SECOND_SIDE_EFFECT:
        path = root / relative.replace("{name}", NAME)
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{path.relative_to(root)}: the hand edit's anchor is not there once: {old!r}"
        path.write_text(text.replace(old, new.replace("{name}", NAME)), encoding="utf-8")


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


def _uv_run(copy: Path, *arguments: str, timeout: float, **env_vars: str) -> subprocess.CompletedProcess[str]:
    """`uv run <arguments>` in the copy, with its own environment (made on first use, with this Python)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv (the README's install step)")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SUPPLYCHAIN_", "VIRTUAL_ENV", "RUN_SCAFFOLD_END_TO_END"))}  # fmt: skip
    env["UV_PYTHON"] = sys.executable  # this interpreter, never a download
    env.update(env_vars)
    return subprocess.run([uv, "run", *arguments], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


@contextmanager
def _short_folder() -> Iterator[Path]:
    """A base folder for a child pytest with a short path, removed afterwards: HAProxy refuses a stats socket
    path over 97 characters, and the gateway tests put theirs under it (this test's tmp_path is too long)."""
    folder = Path(tempfile.mkdtemp(prefix="suite-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _outcomes(report: Path) -> dict[str, tuple[str, str]]:
    """Test id -> (outcome, message) from a JUnit XML report: passed, skipped, failed or error."""
    found = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):  # noqa: S314 (our own child's report)
        test_id = f"{case.get('classname')}::{case.get('name')}"
        problem = next((child for child in case if child.tag in {"failure", "error", "skipped"}), None)
        outcome = "passed" if problem is None else {"failure": "failed"}.get(problem.tag, problem.tag)
        found[test_id] = (outcome, "" if problem is None else str(problem.get("message", "")))
    return found


def _skips_here_too(test_id: str, message: str) -> bool:
    """A skip the parent suite makes too: a program missing here, or what npm supplies (the TypeScript SDK
    of tests/interop, oidc-provider of tests/identity_providers) where it cannot be installed (with
    REQUIRE_TS_SDK_INTEROP=1 or REQUIRE_OIDC_PROVIDER=1 that is a failure in both)."""
    missing = [program for program in PROGRAM_MARKERS if shutil.which(program) is None]
    from_npm = test_id.startswith(("tests.interop.", "tests.identity_providers."))
    return any(f"{program} is not installed" in message for program in missing) or from_npm


def test_a_new_server_with_a_second_side_effect_passes_the_whole_suite_with_no_other_edit(
    clone: Path, tmp_path: Path
) -> None:
    made = _uv_run(clone, "supplychain", "new-server", NAME, timeout=600)
    assert made.returncode == 0, made.stderr
    written = [line.removeprefix("wrote ") for line in made.stdout.splitlines() if line.startswith("wrote ")]
    # 15 new files, the registry and policy edits, the tool snapshot and compose.yaml
    assert len(written) == 19, written
    assert set(_git(clone, "status", "--porcelain").splitlines()) == EXPECTED_STATUS
    # Every grant the scaffold made is printed, exactly as written to deployment/policy.py, and nothing else was.
    printed = [line.strip() for line in made.stdout.splitlines() if line.strip().startswith("_grants[")]
    added = [line[1:] for line in _git(clone, "diff", "-U0", "deployment/policy.py").splitlines()
             if line.startswith("+") and not line.startswith("+++")]  # fmt: skip
    assert printed == added and f'_grants["supply_chain_manager"] |= {{"{NAME}:read", "{NAME}:write"}}' in printed
    assert "Edit or delete those lines" in made.stdout

    add_second_side_effect(clone)
    # The team reviews what changed and writes it down: the tool list, and the new schema (as
    # tests/shared/test_migrations.py says; until then its snapshot tests skip the new server).
    snapshot = _uv_run(clone, "supplychain", "tools", "snapshot", "--server", NAME, timeout=120)
    assert snapshot.returncode == 0, snapshot.stderr
    assert '"name": "close_items"' in (clone / "tests" / "snapshots" / f"{NAME}_tools.json").read_text()
    with _short_folder() as basetemp:
        schema = _uv_run(
            clone, "pytest", "-p", "no:cacheprovider", "-q", "--basetemp", str(basetemp),
            "tests/shared/test_migrations.py", "-k", f"snapshot and {NAME}",
            timeout=300, SUPPLYCHAIN_UPDATE_SNAPSHOTS="1",
        )  # fmt: skip
    assert schema.returncode == 0 and "1 passed" in schema.stdout, schema.stdout[-3000:]
    assert (clone / "tests" / "snapshots" / f"schema_{NAME}.json").is_file()
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", f"{NAME}, with a second side effect")

    report = tmp_path / "whole-suite.xml"
    started = time.monotonic()
    with _short_folder() as basetemp:
        whole = _uv_run(
            clone, "pytest", "-p", "no:cacheprovider", "-q", "--basetemp", str(basetemp), "--junitxml", str(report),
            "--ignore", THIS_TEST, timeout=WHOLE_SUITE_SECONDS,
        )  # fmt: skip
    print(f"whole suite in the copy: {time.monotonic() - started:.0f} s; {whole.stdout.strip().splitlines()[-1]}")
    outcomes = _outcomes(report)
    failed = {test_id: message for test_id, (outcome, message) in outcomes.items() if outcome in {"failed", "error"}}
    assert failed == {}, whole.stdout[-6000:]
    assert whole.returncode == 0, whole.stdout[-4000:] + whole.stderr[-2000:]
    skipped = {test_id: message for test_id, (outcome, message) in outcomes.items() if outcome == "skipped"}
    assert {test_id: message for test_id, message in skipped.items() if not _skips_here_too(test_id, message)} == {}
    assert not any(test_id.startswith(THIS_TEST.removesuffix(".py").replace("/", ".")) for test_id in outcomes)

    # The new server's own tests ran, and the cross-server tests took it and its new tool too.
    passed = {test_id for test_id, (outcome, _) in outcomes.items() if outcome == "passed"}
    for module in (f"tests.{NAME}.test_approvals", f"tests.{NAME}.test_stdio"):
        assert any(test_id.startswith(f"{module}::") for test_id in passed), module
    for module in ("tests.fuzz.test_tool_inputs", "tests.fuzz.test_tool_schemas", "tests.shared.test_tool_snapshots",
                   "tests.http.test_metadata"):  # fmt: skip
        assert any(test_id.startswith(f"{module}::") and f"[{NAME}]" in test_id for test_id in passed), module
    for module in ("tests.shared.test_idempotency", "tests.shared.test_side_effect_approvals"):
        assert any(test_id.startswith(f"{module}::") and f"{NAME}.close_items" in test_id for test_id in passed), module

    assert _git(clone, "status", "--porcelain") == ""  # the tests wrote nothing
