"""Write a new server from the templates: every file, or (on any failure) none.

`plan` decides every path and its text before anything is written, so a refused name or an existing
file leaves the repository as it was; `write` writes the plan and undoes it if a step fails.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from securemcp.money import Currency

from deployment.registry import REGISTRY
from supplychain.scaffold.edits import free_port, free_segment, policy_with, registry_with
from supplychain.scaffold.names import ScaffoldError, check_name

TEMPLATES = Path(__file__).parent / "templates"
CLI_MODULE = "supplychain.cli"


@dataclass
class Plan:
    """What the scaffold will write: new files, and new text for the two shared files it edits."""

    name: str
    port: int
    segment: int
    created: dict[Path, str] = field(default_factory=dict)
    edited: dict[Path, str] = field(default_factory=dict)
    commands: list[tuple[str, ...]] = field(default_factory=list)
    regenerated: list[Path] = field(default_factory=list)
    grants: dict[str, list[str]] = field(default_factory=dict)


def project_root() -> Path:
    """The checkout the command runs from: where `deployment/` and `servers/` live."""
    return Path(__file__).resolve().parents[2]


def grants(name: str, capability: str) -> dict[str, list[str]]:
    """Each role's scopes on the new server: one explicit line per role in deployment/policy.py.

    Reading for the roles that read every server, deciding for the approvers, and the new capability
    for the role that acts on the supply chain (the sample tests write as alice, who holds it). The
    command prints each line; change them in deployment/policy.py to suit.
    """
    return {
        "supply_chain_manager": [f"{name}:read", capability],
        "analyst": [f"{name}:read"],
        "approver": [f"{name}:read", f"{name}:decide"],
    }


def _templates() -> Environment:
    # Autoescaping is for HTML; these templates write Python and SQL from a checked name and numbers.
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701
    )


def plan(name: str, root: Path) -> Plan:
    """Every file of server `name` under `root`; raises `ScaffoldError` (having written nothing) when it cannot."""
    check_name(name, REGISTRY)
    capability = f"{name}:write"
    the_plan = Plan(name=name, port=free_port(), segment=free_segment())
    values = {
        "name": name,
        "Name": name.capitalize(),
        "NAME": name.upper(),
        "port": the_plan.port,
        "capability": capability,
        "id_prefix": "it",
        "currencies": ", ".join(f"'{code.value}'" for code in Currency),
        "roles": grants(name, capability),
        "today": datetime.now(UTC).date().isoformat(),
        "cli_module": CLI_MODULE,
    }
    files = {
        f"servers/{name}/__init__.py": "server/__init__.py.jinja",
        f"servers/{name}/models.py": "server/models.py.jinja",
        f"servers/{name}/service.py": "server/service.py.jinja",
        f"servers/{name}/tools.py": "server/tools.py.jinja",
        f"servers/{name}/server.py": "server/server.py.jinja",
        f"migrations/versions/{name}_0001_initial.py": "other/migration.py.jinja",
        f"fixtures/{name}.py": "other/fixtures.py.jinja",
        f"tests/{name}/__init__.py": "server/__init__.py.jinja",
        f"tests/{name}/builders.py": "tests/builders.py.jinja",
        f"tests/{name}/cases.py": "tests/cases.py.jinja",
        f"tests/{name}/test_isolation.py": "tests/test_isolation.py.jinja",
        f"tests/{name}/test_database.py": "tests/test_database.py.jinja",
        f"tests/{name}/test_approvals.py": "tests/test_approvals.py.jinja",
        f"tests/{name}/test_stdio.py": "tests/test_stdio.py.jinja",
        f"loadtest/workloads/{name}.py": "other/workload.py.jinja",
    }
    # What the `supplychain` commands write once the new server is registered: its reviewed tool list,
    # and compose.yaml with its services, secrets, volumes and networks.
    the_plan.commands += [("tools", "snapshot", "--server", name), ("deploy", "compose")]
    the_plan.regenerated += [root / "tests" / "snapshots" / f"{name}_tools.json", root / "compose.yaml"]
    for relative in (f"servers/{name}", f"tests/{name}", *files, f"tests/snapshots/{name}_tools.json"):
        if (root / relative).exists():
            raise ScaffoldError(f"{relative} already exists: remove it first, or pick another name")
    environment = _templates()
    for relative, template in files.items():
        the_plan.created[root / relative] = environment.get_template(template).render(values)
    registry, policy = root / "deployment" / "registry.py", root / "deployment" / "policy.py"
    the_plan.edited[registry] = registry_with(
        registry.read_text(encoding="utf-8"), name=name, port=the_plan.port, segment=the_plan.segment,
        capability=capability,
    )  # fmt: skip
    the_plan.grants = grants(name, capability)
    the_plan.edited[policy] = policy_with(policy.read_text(encoding="utf-8"), grants=the_plan.grants)
    return the_plan


def _run(root: Path, *arguments: str) -> None:
    """Run a `supplychain` command in a fresh interpreter: it reads the registry as just written."""
    done = subprocess.run(  # noqa: S603 (our own interpreter and command, fixed arguments)
        [sys.executable, "-m", CLI_MODULE, *arguments], cwd=root, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise ScaffoldError(f"`supplychain {' '.join(arguments)}` failed: {last}")


def _tidy(paths: list[Path], root: Path) -> None:
    """Format the written Python with ruff (a dev dependency), so long names wrap as the rest of the code does."""
    names = [str(path) for path in paths]
    for arguments in (
        ["check", "--no-cache", "--quiet", "--fix", "--select", "I", *names],
        ["format", "--no-cache", "--quiet", *names],
    ):
        try:
            subprocess.run([sys.executable, "-m", "ruff", *arguments], cwd=root, check=True, capture_output=True)  # noqa: S603
        except (OSError, subprocess.CalledProcessError):
            return  # ruff is missing (no dev dependencies): the files are still valid Python, merely unwrapped


def write(the_plan: Plan, root: Path) -> list[Path]:
    """Write the plan, then run its commands; on any failure put every file back as it was."""
    originals = {
        path: path.read_text(encoding="utf-8") if path.exists() else None
        for path in [*the_plan.edited, *the_plan.regenerated]
    }
    made_dirs: list[Path] = []
    try:
        for path, new_text in the_plan.created.items():
            missing = [parent for parent in reversed(path.parents) if not parent.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            made_dirs += missing
            path.write_text(new_text, encoding="utf-8")
        for path, new_text in the_plan.edited.items():
            path.write_text(new_text, encoding="utf-8")
        _tidy([path for path in the_plan.created if path.suffix == ".py"], root)
        for command in the_plan.commands:
            _run(root, *command)
    except BaseException:
        for path in the_plan.created:
            path.unlink(missing_ok=True)
        for directory in reversed(made_dirs):
            for leftover in sorted(directory.rglob("*"), reverse=True):  # __pycache__ of an import
                leftover.rmdir() if leftover.is_dir() else leftover.unlink()
            directory.rmdir()
        for path, old_text in originals.items():
            if old_text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(old_text, encoding="utf-8")
        raise
    return [*the_plan.created, *the_plan.edited, *the_plan.regenerated]
