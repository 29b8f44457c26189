"""A fresh machine (Python and uv only) passes `uv run pytest`: tests that need HAProxy or Chromium skip.

The rule (tests/conftest.py): a test that runs one of those programs carries its marker
(`@pytest.mark.haproxy`, `@pytest.mark.chromium`), and the root conftest skips it, with a reason,
where the program is not on `PATH`. Two tests keep the rule from regressing without running the
whole suite twice:

- every test (or fixture it uses) whose code runs one of the programs carries its marker (read from
  the source: the words below, in code or docstrings; a call through a plain helper function is not
  followed, so name the program in the test);
- the marked tests, run in a child pytest with both programs hidden from `PATH`, all skip, and that
  run exits 0.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROGRAM_MARKERS

TESTS = Path(__file__).parent
REPO = TESTS.parent
# What running each program looks like in test code. Lower-case `haproxy` not followed by `:` or `.`
# (the compose image `haproxy:2.6` and the file `haproxy.cfg` run nothing); the topology helpers start it.
USES = {
    "haproxy": re.compile(r"\bhaproxy\b(?![:.])|running_topology|start_gateway|\"--transport\", \"gateway\""),
    "chromium": re.compile(r"(?i)chromium|playwright"),
}
Function = ast.FunctionDef | ast.AsyncFunctionDef
HIDDEN = {"haproxy", "chromium", "chromium-browser", "google-chrome"}


def _marks(decorators: list[ast.expr]) -> set[str]:
    """The program markers among decorators (or a `pytestmark` value): `pytest.mark.<program>`."""
    found = set()
    for node in decorators:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and sub.attr in PROGRAM_MARKERS:
                found.add(sub.attr)
    return found


def _functions(tree: ast.Module) -> list[tuple[Function, set[str]]]:
    """Each function of the module (methods too), with the program markers its class or module gives it."""
    module_marks: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            module_marks |= _marks([node.value])
    found = []
    for node in tree.body:
        if isinstance(node, Function):
            found.append((node, module_marks))
        elif isinstance(node, ast.ClassDef):
            class_marks = module_marks | _marks(node.decorator_list)
            found += [(item, class_marks) for item in node.body if isinstance(item, Function)]
    return found


def _is_fixture(function: Function) -> bool:
    return any("fixture" in ast.unparse(decorator) for decorator in function.decorator_list)


def _programs_used(source: str, function: Function, fixtures: dict[str, set[str]]) -> set[str]:
    text = ast.get_source_segment(source, function) or ""
    body = text.replace(function.name, "", 1)  # its arguments and body, not its name
    used = {program for program, pattern in USES.items() if pattern.search(body)}
    for argument in function.args.args:
        used |= fixtures.get(argument.arg, set())
    return used


def _all_test_sources() -> dict[Path, str]:
    """Every Python file under tests/ (but this one, which names the programs to find them)."""
    return {path: path.read_text(encoding="utf-8") for path in sorted(TESTS.rglob("*.py")) if path != Path(__file__)}


def unmarked_program_tests(sources: dict[Path, str]) -> list[str]:
    """`path::test needs <program>` for each test that runs a program without carrying its marker."""
    modules = [(path, source, ast.parse(source)) for path, source in sources.items()]
    fixtures: dict[str, set[str]] = {}
    for _ in range(3):  # fixtures built on fixtures that start a program
        for _path, source, tree in modules:
            for function, _marks_given in _functions(tree):
                if _is_fixture(function) and (used := _programs_used(source, function, fixtures)):
                    fixtures[function.name] = fixtures.get(function.name, set()) | used
    problems = []
    for path, source, tree in modules:
        for function, given in _functions(tree):
            if not function.name.startswith("test_"):
                continue
            missing = _programs_used(source, function, fixtures) - given - _marks(function.decorator_list)
            problems += [f"{path.relative_to(REPO)}::{function.name} needs {program}" for program in sorted(missing)]
    return problems


def test_every_test_that_runs_haproxy_or_chromium_carries_its_marker() -> None:
    assert unmarked_program_tests(_all_test_sources()) == []


def test_the_rule_finds_tests_that_run_a_program_unmarked() -> None:
    # The checker itself: a test written the way test_compose_runtime.py was before the fix, a test
    # using an unmarked fixture that starts the gateway, and a Playwright test.
    probe = {
        TESTS / "deploy" / "test_probe.py": 'import shutil\n\ndef test_x():\n    assert shutil.which("haproxy")\n',
        TESTS / "pages" / "conftest.py": "import pytest\n\n@pytest.fixture\ndef gw():\n    yield running_topology()\n",
        TESTS / "pages" / "test_page.py": "def test_y(gw):\n    pass\n\nasync def test_z(playwright):\n    pass\n",
        TESTS / "pages" / "test_marked.py": "import pytest\n\npytestmark = pytest.mark.chromium\n\n"
        "async def test_w(playwright):\n    pass\n",
    }
    assert unmarked_program_tests(probe) == [
        "tests/deploy/test_probe.py::test_x needs haproxy",
        "tests/pages/test_page.py::test_y needs haproxy",
        "tests/pages/test_page.py::test_z needs chromium",
    ]


def _path_without_programs(shadow: Path) -> str:
    """A PATH of one folder linking every program on today's PATH except HAProxy and Chromium."""
    shadow.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            if entry.name not in HIDDEN and not (shadow / entry.name).exists() and os.access(entry.path, os.X_OK):
                (shadow / entry.name).symlink_to(entry.path)
    return str(shadow)


@pytest.mark.slow
def test_the_marked_tests_skip_and_pass_with_haproxy_and_chromium_hidden_from_path(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": _path_without_programs(tmp_path / "bin")}
    selection = " or ".join(PROGRAM_MARKERS)
    command = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "-m", selection, "-rs"]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    # None ran, none failed: every marked test skipped.
    assert re.fullmatch(r"=* ?\d+ skipped, \d+ deselected(, \d+ warnings?)? in .*", summary), summary
    assert "haproxy is not installed" in run.stdout
