"""The documentation site stays true to the code: what it names exists, and the API reference is complete.

`uv run mkdocs build --strict` (in .ci/run) already fails on a broken link, a missing anchor, a page left
out of nav and a reference to a name the library lacks. What it cannot see is prose: a control page that
names a file, a function or a test that was renamed, or a public name a subpackage's `__init__` lists but
the reference page leaves out. These tests read the pages the way a newcomer does and check each of those
against the tree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from deployment.registry import SERVERS

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
LIBRARY = REPO / "lib" / "securemcp" / "src" / "securemcp"
CONTROL_PAGES = sorted((DOCS / "controls").glob("*.md"))
FRONT_PAGES = [REPO / "README.md", DOCS / "index.md", *CONTROL_PAGES]
SUBPACKAGES = sorted(path.parent.name for path in LIBRARY.glob("*/__init__.py"))

# `path.py` followed by the names it defines: "`tenancy/database.py` `set_tenant`", "`gate/side_effects.py`
# `SideEffect.level_for`", "`http/gate.py` `HttpGate._unauthorized`, `HttpGate._step_up`".
PATH_AND_NAMES = re.compile(r"`([\w/<>.-]+\.py)`:?((?:(?:,| and)? `[A-Za-z_][\w.]*`)+)")
NAME = re.compile(r"`([A-Za-z_][\w.]*)`")
TEST_PATH = re.compile(r"`(tests/[\w/<>.-]+)`")


def each_server(path: str) -> list[str]:
    """`path` for every registered server where it says `<server>` or `<name>` (else `path` itself)."""
    if "<server>" not in path and "<name>" not in path:
        return [path]
    return [path.replace("<server>", name).replace("<name>", name) for name in SERVERS]


def resolve(path: str) -> Path:
    """A path as the pages write it: under the library (with or without `securemcp/`) or the repository;
    one with `<server>` must exist for every registered server (the first is returned)."""
    found = []
    for each in each_server(path):
        candidate = next((c for c in (LIBRARY / each, LIBRARY.parent / each, REPO / each) if c.exists()), None)
        if candidate is None:
            raise AssertionError(f"{each} names no file of the library or the repository")
        found.append(candidate)
    return found[0]


def defined_names(module: Path) -> dict[str, set[str]]:
    """Top-level names of `module`, each with the names its body defines (a class's methods and fields)."""

    def assigned(node: ast.stmt) -> list[str]:
        if isinstance(node, ast.AnnAssign):
            return [node.target.id] if isinstance(node.target, ast.Name) else []
        targets = node.targets if isinstance(node, ast.Assign) else []
        return [target.id for target in targets if isinstance(target, ast.Name)]

    names: dict[str, set[str]] = {}
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = {
                name
                for inner in node.body
                for name in (
                    [inner.name] if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef) else assigned(inner)
                )
            }
        names.update({name: set() for name in assigned(node)})
    return names


@pytest.mark.parametrize("page", FRONT_PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_file_and_function_a_front_page_names_exists(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    pairs = PATH_AND_NAMES.findall(text)
    assert pairs or page.name == "README.md" or page.parent == DOCS, f"{page.name} names no code"
    for path, names in pairs:
        defined = defined_names(resolve(path))
        for name in NAME.findall(names):
            top, _, member = name.partition(".")
            assert top in defined, f"{page.name}: {path} defines no {top}"
            assert not member or member in defined[top], f"{page.name}: {path} {top} has no {member}"


@pytest.mark.parametrize("page", CONTROL_PAGES, ids=lambda page: page.stem)
def test_every_test_a_control_page_names_exists(page: Path) -> None:
    named = TEST_PATH.findall(page.read_text(encoding="utf-8"))
    assert named, f"{page.name} names no test that attacks its control"
    for path in named:
        for each in each_server(path):
            assert (REPO / each).exists(), f"{page.name}: {each} does not exist"


def defines(subpackage: str, dotted: str) -> bool:
    """True when `dotted` (`module.name`, `package.module.name`) names something defined in `subpackage`."""
    folder, parts = LIBRARY / subpackage, dotted.split(".")
    while parts and (folder / parts[0]).is_dir():
        folder = folder / parts.pop(0)
    module = folder / f"{parts[0]}.py" if parts else None
    return module is not None and module.exists() and len(parts) == 2 and parts[1] in defined_names(module)


def public_names(subpackage: str) -> set[str]:
    """The names the subpackage's `__init__` docstring lists as public, as `module.name`.

    A bare name after a module's name is that module's ("`values.redact_arguments` and `canonical_json`");
    a token that names nothing defined there is prose ("forced row-level security on `app.tenant_id`").
    """
    docstring = ast.get_docstring(ast.parse((LIBRARY / subpackage / "__init__.py").read_text(encoding="utf-8")))
    assert docstring and "Public names:" in docstring, f"securemcp.{subpackage} lists no public names"
    listed = docstring.split("Public names:")[1].split("Guarantees:")[0]
    names, module = set(), ""
    for token in NAME.findall(re.sub(r"\([^)]*\)", "", listed)):
        if defines(subpackage, token):
            names.add(token)
            module = token.rsplit(".", 1)[0]
        elif module and defines(subpackage, f"{module}.{token}"):
            names.add(f"{module}.{token}")
    assert names, f"no public name of securemcp.{subpackage} was recognised"
    return names


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_the_reference_page_renders_every_public_name_its_subpackage_lists(subpackage: str) -> None:
    page = (DOCS / "reference" / f"{subpackage}.md").read_text(encoding="utf-8")
    rendered = set(re.findall(rf"^::: securemcp\.{subpackage}\.([\w.]+)$", page, re.MULTILINE))
    missing = public_names(subpackage) - rendered
    assert not missing, f"docs/reference/{subpackage}.md leaves out {sorted(missing)}"
