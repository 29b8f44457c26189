"""The Dockerfile and .dockerignore, parsed (no Docker engine here to build them).

What they promise: a builder stage and a slim runtime stage, the default target; a fixed non-root user
(the one compose.yaml names) and `supplychain` as the entrypoint; the library installed from the wheel
built from lib/securemcp and the template from its own wheel, with the gateway templates it carries;
no lock file, secret or local state in the image. What the production image must not hold (the dev
tools, the fixture users, the tests) is tests/deploy/test_production_artefacts.py.
"""

from __future__ import annotations

import json
import re
import tomllib

from tests.deploy.compose import REPO, resolved
from tests.deploy.dockerfile import DOCKERFILE, copy_source, inherited, instructions, stage, stages

IGNORED = {line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()}
APP_IMAGES = ("supplychain-mcp:local", "supplychain-mcp-dev:local")


def test_multi_stage_with_a_slim_runtime_stage_as_the_default_target() -> None:
    built = stages()
    assert built[0].name == "builder" and built[-1].name == "runtime"  # `docker build .` builds the last
    assert "python:3.11-slim" in DOCKERFILE
    runtime_copies = [copy_source(arguments) for arguments in stage("runtime").arguments("COPY")]
    assert runtime_copies == [("builder", ["/opt/venv"])]  # the installed environment, no source tree


def test_the_runtime_runs_as_the_fixed_non_root_user_compose_names() -> None:
    users = inherited("runtime", "USER")
    assert users == ["10001:10001"]
    app_users = {spec["user"] for spec in resolved()["services"].values() if spec.get("image") in APP_IMAGES}
    assert app_users == {users[0]}
    assert inherited("dev", "USER") == users


def test_the_entrypoint_is_the_cli() -> None:
    for target in ("runtime", "dev"):
        assert [json.loads(arguments) for arguments in inherited(target, "ENTRYPOINT")] == [["supplychain"]]


def test_no_lock_file_secret_or_local_state_enters_the_image() -> None:
    copies = [arguments for name, arguments in instructions() if name in ("COPY", "ADD")]
    assert not any(name == "ADD" for name, _ in instructions())
    assert not any("uv.lock" in arguments or re.search(r"(^|\s)\.(\s|$)", arguments) for arguments in copies)
    for name, arguments in instructions():  # nothing secret in the image's environment or build arguments
        if name in ("ENV", "ARG"):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL|_KEY\b|DSN", arguments, re.I), arguments
    assert {".git", ".venv", "uv.lock", ".supplychain", "deploy/compose/secrets", "**/*.pem", "**/*.dsn"} <= IGNORED
    assert {"tests", "demo", "bench", "loadtest"} <= IGNORED  # not even in the build context


def test_the_builder_copies_each_wheel_package_the_library_and_the_gateway_templates() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    copied = {
        path.rstrip("/") for arguments in stage("builder").arguments("COPY") for path in copy_source(arguments)[1]
    }
    assert set(wheel["packages"]) <= copied
    assert set(wheel["force-include"]) == {"deploy/gateway"} <= copied  # `gateway render`'s templates
    assert {"lib/securemcp", "pyproject.toml", "README.md"} <= copied


def test_the_library_is_installed_from_the_wheel_built_from_lib_securemcp() -> None:
    run = " && ".join(stage("builder").arguments("RUN"))
    assert "uv build --wheel --out-dir /wheels lib/securemcp" in run
    assert "uv build --wheel --out-dir /wheels ." in run
    installs = [command.strip() for command in run.split("&&") if "uv pip install" in command]
    # Both wheels named by path in one install: `securemcp` cannot come from a package index.
    assert installs[-1].endswith("/wheels/securemcp-*.whl /wheels/supplychain_mcp-*.whl")
    # Never the template's requirements on their own: they name `securemcp`, which an index would serve.
    assert not any(re.search(r"-r (\./)?pyproject\.toml", command) for command in installs)
    assert "--editable" not in run  # the image holds installed wheels, not the source tree
