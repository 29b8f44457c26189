"""The GitHub Actions workflow runs `.ci/run` and nothing else, so CI on GitHub checks what CI checks anywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
# What a job may use besides `.ci/run`: the checkout, and a Python whose pip may install uv.
ALLOWED_ACTIONS = {"actions/checkout", "actions/setup-python"}


def _workflow() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return document


def test_the_workflow_runs_on_every_push_and_pull_request() -> None:
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}


def test_its_only_job_runs_ci_run_on_ubuntu_and_nothing_else() -> None:
    [(name, job)] = _workflow()["jobs"].items()
    assert str(job["runs-on"]).startswith("ubuntu-"), name
    steps: list[dict[str, Any]] = job["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == ["bash .ci/run"]
    for step in steps:
        assert ("run" in step) != ("uses" in step), step  # a step is either the script or an action
        if "uses" in step:
            assert step["uses"].split("@")[0] in ALLOWED_ACTIONS, step
    assert not (set(job) - {"runs-on", "timeout-minutes", "env", "steps"}), "no services, containers or matrix"
    assert (REPO / ".ci" / "run").is_file()


def test_ci_run_installs_each_system_package_through_sudo_when_not_root() -> None:
    """GitHub's runner is not root: each package `.ci/run` installs as root it must also install with sudo."""
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    as_root = re.findall(r"^\s*apt-get update && apt-get install -y (\S+)$", script, re.MULTILINE)
    with_sudo = re.findall(r"^\s*sudo apt-get update && sudo apt-get install -y (\S+)$", script, re.MULTILINE)
    assert as_root and with_sudo == as_root
