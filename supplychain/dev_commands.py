"""Development commands: those whose code lives in a dev tool, which only a checkout has.

The production wheel and image hold the CLI, the servers, the deployment's data and the migrations
(pyproject.toml). The dev tools stay in the repository: the dev authorization server (`idp/`), the
fixture tenants and users with their dev passwords (`fixtures/`), `demo/`, `bench/` and `loadtest/`.

In a checkout each tool's commands are registered from the tool itself. Where the tool is not
installed, a stand-in of the same name takes the command's place: `supplychain --help` still lists it,
and running it says where it runs instead of ending in an ImportError's traceback.
"""

from __future__ import annotations

import importlib.util
from importlib import import_module

import click

DEV_TOOLS = ("idp", "fixtures", "demo", "bench", "loadtest")
_STAND_IN_HELP = "Development command: run it from a checkout of the repository."


class DevelopmentCommand(click.ClickException):
    """A development command ran where the dev tool it needs is not installed (the production install)."""

    def __init__(self, command_path: str, tool: str) -> None:
        super().__init__(
            f"`{command_path}` is a development command; run it from a checkout of the repository "
            f"(the dev tool {tool}/ is not part of this install)"
        )


def installed(tool: str) -> bool:
    """True when the dev tool `tool` can be imported here: in a checkout, never in the production install."""
    return importlib.util.find_spec(tool) is not None


def require(*tools: str) -> None:
    """Stop the running command with a `DevelopmentCommand` error unless every one of `tools` is installed."""
    for tool in tools:
        if not installed(tool):
            raise DevelopmentCommand(click.get_current_context().command_path, tool)


def register(group: click.Group, name: str, target: str) -> None:
    """Add command `name`, found at `target` ("module:attribute") in a dev tool, or its stand-in to `group`."""
    module, attribute = target.split(":")
    tool = module.split(".")[0]
    command = getattr(import_module(module), attribute) if installed(tool) else stand_in(name, tool)
    group.add_command(command, name)


def stand_in(name: str, tool: str) -> click.Command:
    """A command that takes any arguments (subcommands and `--help` too) and says it needs a checkout."""

    def explain(arguments: tuple[str, ...]) -> None:
        raise DevelopmentCommand(click.get_current_context().command_path, tool)

    return click.Command(
        name,
        callback=explain,
        params=[click.Argument(["arguments"], nargs=-1, type=click.UNPROCESSED)],
        help=_STAND_IN_HELP,
        short_help=_STAND_IN_HELP,
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
    )
