"""The library (securemcp) loads no module by a name built at run time.

`uv run lint-imports` (the contracts in pyproject.toml) sees import statements only. A call such as
`import_module(f"servers.{name}.tools")` would let the library reach a server or the shell unseen,
so the library takes what it needs from above as arguments instead (`register_executors`), and this
test refuses any such call in it.
"""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "lib" / "securemcp" / "src" / "securemcp"
DYNAMIC_LOADERS = {"import_module", "__import__", "spec_from_file_location", "run_module", "run_path"}


def dynamic_loads(source: str) -> list[str]:
    """The dynamic module loaders `source` names, by call or import, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = getattr(node, "module", None) or ""
            names = [alias.name for alias in node.names]
            if module in ("importlib", "runpy") or any(name.split(".")[0] in ("importlib", "runpy") for name in names):
                found.append(f"line {node.lineno}: imports {module or ', '.join(names)}")
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in DYNAMIC_LOADERS:
                found.append(f"line {node.lineno}: calls {called}")
    return found


def test_the_library_loads_no_module_by_name() -> None:
    assert len(list(LIBRARY.rglob("*.py"))) > 40, f"no library found at {LIBRARY}"  # a moved library fails here
    found = {
        str(path.relative_to(LIBRARY.parent)): loads
        for path in sorted(LIBRARY.rglob("*.py"))
        if (loads := dynamic_loads(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_a_load_by_name_is_seen() -> None:
    source = 'from importlib import import_module\n\ndef tools(name):\n    return import_module(f"servers.{name}")\n'
    assert dynamic_loads(source) == ["line 1: imports importlib", "line 4: calls import_module"]
