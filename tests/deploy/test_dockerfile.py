"""The Dockerfile and .dockerignore, parsed (no Docker engine here to build them).

What they promise: a builder stage and a slim runtime stage, a fixed non-root user (the one compose.yaml
names), `supplychain` as the entrypoint, every package of the project and the gateway templates in the
image, and no lock file, secret or local state in it.
"""

from __future__ import annotations

import json
import re
import tomllib

from supplychain import gateway
from tests.deploy.compose import REPO, resolved

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
IGNORED = {line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage (a stage starts at FROM)."""
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def test_multi_stage_with_a_slim_runtime_stage() -> None:
    built = stages()
    assert len(built) >= 2
    assert built[0][0][1].endswith("AS builder") and built[-1][0][1].endswith("AS runtime")
    assert "python:3.11-slim" in DOCKERFILE
    runtime_copies = [arguments for name, arguments in built[-1] if name == "COPY"]
    assert runtime_copies and all(arguments.startswith("--from=builder ") for arguments in runtime_copies)


def test_the_runtime_runs_as_the_fixed_non_root_user_compose_names() -> None:
    users = [arguments for name, arguments in stages()[-1] if name == "USER"]
    assert users == ["10001:10001"]
    app_users = {
        spec["user"] for spec in resolved()["services"].values() if spec.get("image") == "supplychain-mcp:local"
    }
    assert app_users == {users[0]}


def test_the_entrypoint_is_the_cli() -> None:
    entrypoints = [json.loads(arguments) for name, arguments in stages()[-1] if name == "ENTRYPOINT"]
    assert entrypoints == [["supplychain"]]


def test_no_lock_file_secret_or_local_state_enters_the_image() -> None:
    copies = [arguments for name, arguments in instructions() if name in ("COPY", "ADD")]
    assert not any(name == "ADD" for name, _ in instructions())
    assert not any("uv.lock" in arguments or re.search(r"(^|\s)\.(\s|$)", arguments) for arguments in copies)
    for name, arguments in instructions():  # nothing secret in the image's environment or build arguments
        if name in ("ENV", "ARG"):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL|_KEY\b|DSN", arguments, re.I), arguments
    assert {".git", ".venv", "uv.lock", ".supplychain", "deploy/compose/secrets", "**/*.pem", "**/*.dsn"} <= IGNORED


def test_every_package_and_the_gateway_templates_are_copied() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {arguments.split()[0].rstrip("/") for name, arguments in stages()[0] if name == "COPY"}
    assert set(packages) <= copied
    # `gateway render` reads its templates next to the `shared` package: the editable install keeps them there.
    assert gateway.TEMPLATES.relative_to(REPO).as_posix() in copied
    assert "--editable ." in DOCKERFILE
