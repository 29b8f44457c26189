"""The production install, run: the template's wheel unpacked in place of the checkout, the library beside it.

No dev tool is importable there, yet `supplychain` starts, lists every command, runs the production ones
and answers each development command with one line saying to run it from a checkout (no traceback).
In a checkout the same names are the dev tools' own commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.artefacts import DEV_ONLY, build_wheel
from tests.deploy.compose import REPO

DEV_COMMANDS = {  # the command line -> the dev tool it needs
    ("idp", "serve"): "idp",
    ("idp", "token", "--user", "alice@acme", "--server", "inventory"): "idp",
    ("idp", "--help"): "idp",
    ("demo",): "demo",
    ("claude-config",): "demo",
    ("bench", "--quick"): "bench",
    ("loadtest", "--quick"): "loadtest",
    ("db", "seed"): "fixtures",
}
PRODUCTION_HELP = (
    ("serve", "--help"),
    ("db", "init", "--help"),
    ("gateway", "render", "--help"),
    ("audit", "verify", "--help"),
    ("incident", "token", "--help"),
    ("approvals", "list", "--help"),
)

# Run in a fresh interpreter: the unpacked wheel first on sys.path, the checkout (the editable install's
# path entry, and the working directory) removed. The library stays: it is a dependency, not the template.
_BOOT = """
import os, sys
sys.path[:] = [SITE] + [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(REPO)]
"""
_PROBE = """
import importlib.util, json
from click.testing import CliRunner
from supplychain import gateway
from supplychain.cli import main
from supplychain.incident import is_dev_idp
runner = CliRunner()
def run(arguments):
    result = runner.invoke(main, list(arguments), prog_name="supplychain")
    return [result.exit_code, result.output, repr(result.exception) if result.exit_code not in (0, 1, 2) else None]
print(json.dumps({
    "importable": {tool: importlib.util.find_spec(tool) is not None for tool in DEV_ONLY},
    "dev": {" ".join(arguments): run(arguments) for arguments in DEV_COMMANDS},
    "production": {" ".join(arguments): run(arguments) for arguments in PRODUCTION_HELP},
    "gateway_up": run(["gateway", "up"]),
    "help": {name: command.help for name, command in main.commands.items()},
    "templates": str(gateway.TEMPLATES),
    "dev_idp": is_dev_idp("http://127.0.0.1:8100"),
}))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What the probe saw in the production install (one interpreter for every command: each loads the CLI)."""
    folder = tmp_path_factory.mktemp("production")
    with zipfile.ZipFile(build_wheel(REPO, folder / "dist")) as wheel:
        wheel.extractall(folder / "site")
    constants = f"SITE, REPO = {str(folder / 'site')!r}, {str(REPO)!r}\n"
    constants += (
        f"DEV_ONLY, DEV_COMMANDS, PRODUCTION_HELP = {DEV_ONLY!r}, {list(DEV_COMMANDS)!r}, {PRODUCTION_HELP!r}\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env["SUPPLYCHAIN_HOME"] = str(folder / "home")
    done = subprocess.run(
        [sys.executable, "-c", constants + _BOOT + _PROBE],
        cwd=folder, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    seen["site"] = str(folder / "site")
    return seen


def test_the_production_install_has_no_dev_tool(production: dict[str, object]) -> None:
    assert production["importable"] == dict.fromkeys(DEV_ONLY, False)


@pytest.mark.parametrize("arguments", list(DEV_COMMANDS), ids=" ".join)
def test_each_dev_command_says_to_run_it_from_a_checkout(production: dict[str, object], arguments: tuple[str]) -> None:
    tool = DEV_COMMANDS[arguments]
    command = "supplychain " + (" ".join(arguments[:2]) if tool == "fixtures" else arguments[0])
    expected = (
        f"Error: `{command}` is a development command; run it from a checkout of the repository "
        f"(the dev tool {tool}/ is not part of this install)\n"
    )
    assert production["dev"][" ".join(arguments)] == [1, expected, None]  # type: ignore[index]


def test_every_dev_command_is_listed_as_one(production: dict[str, object]) -> None:
    stand_in = "Development command: run it from a checkout of the repository."
    listed: dict[str, str] = production["help"]  # type: ignore[assignment]
    assert {name for name, text in listed.items() if text == stand_in} == {
        "idp", "demo", "claude-config", "bench", "loadtest"
    }  # fmt: skip
    assert {"serve", "db", "audit", "approvals", "incident", "gateway"} <= set(listed)


def test_the_production_commands_load(production: dict[str, object]) -> None:
    for arguments, (code, output, error) in production["production"].items():  # type: ignore[attr-defined]
        assert (code, error) == (0, None), (arguments, output)
        assert output.startswith(f"Usage: supplychain {arguments.removesuffix(' --help')} "), output


def test_gateway_up_needs_no_idp_flag_and_gateway_render_finds_its_templates(production: dict[str, object]) -> None:
    assert production["gateway_up"] == [
        1,
        "Error: --idp starts the dev authorization server, which only a checkout has: pass --no-idp and "
        "--issuer with your IdP's issuer URL\n",
        None,
    ]
    templates = Path(str(production["templates"]))
    assert templates == Path(str(production["site"])) / "supplychain" / "gateway_templates"


def test_the_incident_playbook_treats_every_issuer_as_another_idp(production: dict[str, object]) -> None:
    assert production["dev_idp"] is False  # the dev IdP's own issuer, which a checkout recognises


def test_in_a_checkout_the_dev_tools_register_their_own_commands() -> None:
    from bench.cli import bench
    from demo.cli import claude_config, demo
    from idp.cli import idp
    from idp.settings import IdpSettings
    from loadtest.cli import loadtest
    from supplychain.cli import main
    from supplychain.incident import is_dev_idp

    registered = {name: main.commands[name] for name in ("idp", "demo", "claude-config", "bench", "loadtest")}
    assert registered == {
        "idp": idp,
        "demo": demo,
        "claude-config": claude_config,
        "bench": bench,
        "loadtest": loadtest,
    }
    assert is_dev_idp(IdpSettings().issuer) is True
