"""A fresh machine (Python and uv only) passes `uv run pytest`: tests that need HAProxy or Chromium skip.

The rule (tests/conftest.py): a test that runs one of those programs carries its marker
(`@pytest.mark.haproxy`, `@pytest.mark.chromium`), and the root conftest skips it, with a reason,
where the program is not on `PATH`. Two tests keep the rule from regressing without running the
whole suite twice:

- a heuristic scan of the sources: every test whose code, fixtures or test helpers mention starting
  one of the programs (the patterns in `USES`, in code or docstrings) carries its marker. Calls are
  followed into the functions of the test modules (any depth, across `from tests... import`), so a
  test using `tests/gateway/topology.py` or a browser helper under tests/pages needs the marker too;
  code outside tests/ is matched only by the entry points named in `USES`;
- the marked tests, run in a child pytest with both programs hidden from `PATH`, all skip, and that
  run exits 0.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import PROGRAM_MARKERS

TESTS = Path(__file__).parent
REPO = TESTS.parent
# What starting each program looks like in code. Lower-case `haproxy` not followed by `:` or `.` (the
# compose image `haproxy:2.6` and the file `haproxy.cfg` run nothing); the project's own entry points
# that start it (`supplychain.gateway_up`, `supplychain demo --transport gateway`). The test helpers that
# wrap these (tests/gateway/topology.py, a browser helper under tests/pages) are found by following calls.
USES = {
    "haproxy": re.compile(r"\bhaproxy\b(?![:.])|start_gateway|start_haproxy|\"--transport\", \"gateway\""),
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


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


@dataclass
class _Module:
    """One test module: its source, its functions, and the helpers it can call by name."""

    path: Path
    source: str
    functions: list[tuple[Function, set[str]]]
    # A name this module calls -> (module, function) that defines it: its own functions, and those it
    # imports from another test module (`from tests.gateway.topology import running_topology as up`).
    callable_names: dict[str, tuple[str, str]] = field(default_factory=dict)


def _parse(sources: dict[Path, str]) -> dict[str, _Module]:
    modules = {}
    for path, source in sources.items():
        tree = ast.parse(source)
        module = _Module(path, source, _functions(tree))
        name = _module_name(path)
        module.callable_names = {function.name: (name, function.name) for function, _ in module.functions}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
                for alias in node.names:
                    module.callable_names[alias.asname or alias.name] = (str(node.module), alias.name)
        modules[name] = module
    return modules


def _referenced_names(function: Function) -> set[str]:
    """Every name the function's body and defaults mention (calls, and functions passed on)."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


def unmarked_program_tests(sources: dict[Path, str]) -> list[str]:
    """`path::test needs <program>` for each test that runs a program without carrying its marker.

    A function uses a program if its source (arguments and body) names one (`USES`), if it calls a
    helper of the test modules that uses one (followed through any depth of helpers, across modules
    by their `from tests... import`), or if it takes a fixture that uses one.
    """
    modules = _parse(sources)
    uses: dict[tuple[str, str], set[str]] = {}  # (module, function) -> programs
    fixtures: dict[str, set[str]] = {}  # fixture name -> programs
    for name, module in modules.items():
        for function, _given in module.functions:
            text = (ast.get_source_segment(module.source, function) or "").replace(function.name, "", 1)
            uses[(name, function.name)] = {program for program, pattern in USES.items() if pattern.search(text)}
    changed = True
    while changed:  # until nothing new is found: helpers on helpers, fixtures on fixtures
        changed = False
        for name, module in modules.items():
            for function, _given in module.functions:
                found = set(uses[(name, function.name)])
                for called in _referenced_names(function) - {function.name}:
                    found |= uses.get(module.callable_names.get(called, ("", "")), set())
                for argument in function.args.args:
                    found |= fixtures.get(argument.arg, set())
                if found != uses[(name, function.name)]:
                    uses[(name, function.name)], changed = found, True
                if _is_fixture(function) and not found <= fixtures.get(function.name, set()):
                    fixtures[function.name] = fixtures.get(function.name, set()) | found
                    changed = True
    problems = []
    for name, module in modules.items():
        for function, given in module.functions:
            if function.name.startswith("test_"):
                missing = uses[(name, function.name)] - given - _marks(function.decorator_list)
                where = f"{module.path.relative_to(REPO)}::{function.name}"
                problems += [f"{where} needs {program}" for program in sorted(missing)]
    return problems


def _all_test_sources() -> dict[Path, str]:
    """Every Python file under tests/ (but this one, which names the programs to find them)."""
    return {path: path.read_text(encoding="utf-8") for path in sorted(TESTS.rglob("*.py")) if path != Path(__file__)}


def test_every_test_that_runs_haproxy_or_chromium_carries_its_marker() -> None:
    assert unmarked_program_tests(_all_test_sources()) == []


def test_the_rule_finds_tests_that_run_a_program_unmarked() -> None:
    # The checker itself: a test written the way test_compose_runtime.py was before the fix; a fixture
    # and a test reaching the gateway only through a helper module's function (two helpers deep, one
    # imported under another name); a browser helper; and Playwright tests, marked and not.
    probe = {
        TESTS / "deploy" / "test_probe.py": 'import shutil\n\ndef test_x():\n    assert shutil.which("haproxy")\n',
        TESTS / "gateway" / "topology.py": "from supplychain.gateway_up import start_gateway\n\n"
        "def running_topology():\n    return start_gateway()\n\ndef edge_of():\n    return running_topology()\n",
        TESTS / "pages" / "browser.py": "def open_page():\n    return launch_chromium()\n",
        TESTS / "pages" / "conftest.py": "import pytest\nfrom tests.gateway.topology import running_topology\n\n"
        "@pytest.fixture\ndef gw():\n    yield running_topology()\n",
        TESTS / "pages" / "test_page.py": "from tests.gateway.topology import edge_of as up\n"
        "from tests.pages.browser import open_page\n\n"
        "def test_y(gw):\n    pass\n\nasync def test_z(playwright):\n    pass\n\n"
        "def test_v():\n    up()\n\ndef test_u():\n    open_page()\n\ndef test_t():\n    unrelated()\n",
        TESTS / "pages" / "test_marked.py": "import pytest\nfrom tests.pages.browser import open_page\n\n"
        "pytestmark = pytest.mark.chromium\n\nasync def test_w(playwright):\n    open_page()\n",
    }
    assert unmarked_program_tests(probe) == [
        "tests/deploy/test_probe.py::test_x needs haproxy",
        "tests/pages/test_page.py::test_y needs haproxy",
        "tests/pages/test_page.py::test_z needs chromium",
        "tests/pages/test_page.py::test_v needs haproxy",
        "tests/pages/test_page.py::test_u needs chromium",
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
