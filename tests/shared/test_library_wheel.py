"""The library is a distribution of its own: its wheel alone runs a template server's tests.

A clone depends on `securemcp` by version, so what it receives is the wheel, not this source tree.
This test builds that wheel with `uv build`, installs it into a fresh virtual environment together
with the template's own dependencies (never the workspace source), copies the template without
`lib/`, and runs one server's tests there against a real Postgres. It proves three things: the
wheel carries every module and data file the servers need (templates, styles), its declared
dependencies are enough, and the template needs nothing of the library beyond its public package.

It needs the package index (to install the dependencies into the fresh environment), like `uv sync`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "lib" / "securemcp"
SERVER_TESTS = "tests/inventory"


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv (the README's install step)")
    return uv


def _run(*arguments: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(arguments, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(arguments[:3])} ... failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _template_requirements() -> list[str]:
    """The template's own dependencies and its dev group, without the library (the wheel stands in)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["project"]["dependencies"], *project["dependency-groups"]["dev"]]
    return [requirement for requirement in wanted if not requirement.startswith("securemcp")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(_uv(), "build", "--wheel", "--out-dir", str(out), str(LIBRARY), cwd=REPO)
    (built,) = out.glob("securemcp-*.whl")
    return built


def test_the_wheel_holds_the_library_and_its_page_files_and_nothing_of_the_template(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("securemcp-")}
    assert packages == {"securemcp"}
    assert "securemcp/approvals/pages/templates/approval.html" in names
    assert "securemcp/approvals/pages/static/approvals.css" in names
    version = tomllib.loads((LIBRARY / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert wheel.name.startswith(f"securemcp-{version}-")


def test_a_template_server_passes_its_tests_against_the_wheel_in_a_fresh_environment(
    wheel: Path, tmp_path: Path
) -> None:
    uv = _uv()
    venv = tmp_path / "venv"
    _run(uv, "venv", "--quiet", "--python", sys.executable, str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(uv, "pip", "install", "--quiet", "--python", str(python), str(wheel), *_template_requirements(), cwd=tmp_path)

    # The template as a clone has it, without the library's source.
    template = tmp_path / "template"
    tracked = _run("git", "ls-files", "-z", cwd=REPO).split("\0")
    for name in tracked:
        if name and not name.startswith("lib/") and (REPO / name).is_file():
            (template / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, template / name)

    env = {key: value for key, value in os.environ.items() if not key.startswith(("SUPPLYCHAIN_", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(template)
    where = _run(str(python), "-c", "import securemcp; print(securemcp.__file__)", cwd=template, env=env)
    imported_from = Path(where.strip())
    assert "site-packages" in imported_from.parts and not imported_from.is_relative_to(REPO), where

    result = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "pytest"),
         SERVER_TESTS],
        cwd=template, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
