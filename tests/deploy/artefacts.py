"""The production artefacts, made here: the template's wheel, built by `uv build` from the repository or
from exactly the files the Dockerfile's builder stage copies.

`DEV_ONLY` names what a production artefact must never hold: the dev tools, the fixture users and the
tests (their dev passwords are `fixtures.tenants.DEV_PASSWORDS`).
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from tests.deploy.compose import REPO
from tests.deploy.dockerfile import copy_source, stage

DEV_ONLY = ("idp", "fixtures", "bench", "loadtest", "demo", "tests")
_NOT_CONTEXT = shutil.ignore_patterns("__pycache__", "*.pyc")  # .dockerignore keeps them out of the build


def build_wheel(source: Path, out: Path, distribution: str = "supplychain_mcp") -> Path:
    """The wheel `uv build --wheel` makes of the project at `source` (a workspace root or member)."""
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH: run the tests with `uv run pytest`"
    done = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out), str(source)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob(f"{distribution}-*.whl")
    return wheel


def builder_context(folder: Path) -> Path:
    """`folder` holding what the builder stage copies from the build context, where it copies it."""
    for arguments in stage("builder").arguments("COPY"):
        origin, sources = copy_source(arguments)
        assert origin is None, arguments  # the builder copies from the context only
        destination = arguments.split()[-1]
        for source in sources:  # relative to WORKDIR, which `folder` stands for; a folder's content is copied
            path = REPO / source
            if path.is_dir():
                shutil.copytree(path, folder / destination, ignore=_NOT_CONTEXT, dirs_exist_ok=True)
            else:
                assert destination.endswith("/"), arguments  # files go into a folder under their own name
                (folder / destination).mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, folder / destination / path.name)
    return folder


def names(wheel: Path) -> list[str]:
    """Every file name in `wheel`."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def texts(wheel: Path) -> dict[str, str]:
    """Every file of `wheel`, as text (bytes that are not UTF-8 replaced, so nothing is skipped)."""
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist()}
