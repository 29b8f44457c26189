"""The figures and commands the README and the docs state, checked against the code, so they stay true.

- The test count ("about 1,600 tests": any number of 100 or more followed by "tests") is within
  `COUNT_MARGIN` of what `pytest --collect-only` collects (collected once, in a child pytest).
- Every `supplychain ...` command they show (`uv run supplychain ...` too, in code or prose) exists:
  each subcommand is one of its group's, each option one of its command's, found by walking the click
  command tree (`supplychain.cli.main`). `start|stop` means each of them; `<server>`, `[--since 24h]`,
  `N` and the like are placeholders and values.

Not checked here: the suite's wall time (measured by a whole run, which no test makes).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from supplychain.cli import main

ROOT = Path(__file__).resolve().parent.parent
COUNT_MARGIN = 0.10  # a stated count may be this far from the collected one, either way
DOCS = [ROOT / "README.md", ROOT / "lib" / "securemcp" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# "about 1,600 tests", "1268 tests": a suite-sized count (smaller numbers count something else).
_TEST_COUNT = re.compile(r"\b(\d{1,3}(?:,\d{3})+|\d{3,})\s+tests\b")
# The word `supplychain` as a command (not a path, module, URL or setting), then its space-separated words
# up to the end of the code span, a comment, a parenthesis or the end of the line.
_COMMAND = re.compile(r"(?<![\w./$-])supplychain((?:[ \t]+[^\s`\\#;,()\"']+)*)")
_SHELL_BREAKS = {"&&", "||", "|", ">", ">>", "2>&1"}
_PLACEHOLDER = re.compile(r"^(<.+>|\.\.\.|…|[A-Z][A-Z_]*)$")


@dataclass(frozen=True)
class Shown:
    """A command as a page shows it: where, and the words after `supplychain`."""

    where: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: `supplychain {' '.join(self.words)}`"


def shown_commands(text: str, where: str) -> list[Shown]:
    """Every `supplychain ...` command in `text` (a Markdown page)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in _COMMAND.finditer(line):
            found.append(Shown(f"{where}:{number}", tuple(match.group(1).split())))
    return found


def problems_of(shown: Shown, root: click.Group = main) -> list[str]:
    """What does not exist in the CLI of what `shown` names: an unknown subcommand or option, with its place."""
    command: click.Command = root
    path = "supplychain"
    takes_value = False
    for word in shown.words:
        if word in _SHELL_BREAKS:
            break
        word = word.strip("[]")  # an optional part: `[--since 24h]`
        if not word or takes_value:
            takes_value = False
            continue
        if word.startswith("-"):
            option = _option(command, word.split("=")[0])
            if option is None:
                return [f"{shown}: `{path}` has no option {word.split('=')[0]}"]
            takes_value = "=" not in word and not (option.is_flag or option.count)
            continue
        if isinstance(command, click.Group):
            if _PLACEHOLDER.match(word):
                break  # `supplychain ...`, `supplychain <command>`: any subcommand
            names = word.split("|")  # `db start|stop|status`: each of them
            unknown = [name for name in names if name not in command.commands]
            if unknown:
                return [f"{shown}: `{path}` has no subcommand {', '.join(unknown)}"]
            if len(names) > 1:
                break  # several commands at once: their options cannot be told apart
            command, path = command.commands[word], f"{path} {word}"
        # Otherwise an argument of a command, or a placeholder: not named in the help, nothing to check.
    return []


def _option(command: click.Command, name: str) -> click.Option | None:
    if name == "--help":
        return click.Option(["--help"], is_flag=True)
    for parameter in command.params:
        if isinstance(parameter, click.Option) and name in (*parameter.opts, *parameter.secondary_opts):
            return parameter
    return None


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many tests `pytest --collect-only` collects from the whole suite (collection only: nothing runs)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path_factory.mktemp('collect') / 'base'}", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    match = re.search(r"^(\d+) tests? collected", done.stdout, re.MULTILINE)
    assert done.returncode == 0 and match, done.stdout[-2000:] + done.stderr[-2000:]
    return int(match.group(1))


def test_the_stated_test_count_is_within_the_margin_of_the_collected_count(collected: int) -> None:
    stated = {
        f"{_relative(page)}: {match.group(0)!r}": int(match.group(1).replace(",", ""))
        for page in DOCS
        for match in _TEST_COUNT.finditer(page.read_text(encoding="utf-8"))
    }
    assert stated, "no page states the test count: the README or docs/testing.md should"
    off = {claim: count for claim, count in stated.items() if abs(count - collected) > COUNT_MARGIN * collected}
    assert not off, f"{collected} tests collected; stated more than {COUNT_MARGIN:.0%} off: {off}"


def test_every_command_the_readme_and_docs_show_exists_in_the_cli() -> None:
    shown = [command for page in DOCS for command in shown_commands(page.read_text(encoding="utf-8"), _relative(page))]
    assert any(command.where.startswith("README.md") and command.words for command in shown)
    assert [problem for command in shown for problem in problems_of(command)] == []


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("uv run supplychain demo --yse", "`supplychain demo` has no option --yse"),
        ("`uv run supplychain serv all`", "`supplychain` has no subcommand serv"),
        ("uv run supplychain db start|stpo|status", "`supplychain db` has no subcommand stpo"),
        ("supplychain idp token --user alice@acme --sever inventory", "`supplychain idp token` has no option --sever"),
        ("supplychain audit review [--since 24h] [--servr S]", "`supplychain audit review` has no option --servr"),
    ],
)
def test_a_misspelled_command_is_named_with_its_place(line: str, problem: str) -> None:
    (shown,) = shown_commands(line, "README.md")
    assert problems_of(shown) == [f"README.md:1: `supplychain {' '.join(shown.words)}`: {problem}"]


@pytest.mark.parametrize(
    "line",
    [
        "uv run supplychain serve <server> --transport stdio|http [--host H --port P] [--read-only]",
        "uv run supplychain db start && uv run supplychain db init && uv run supplychain db seed",
        "uv run supplychain incident token <token_id|client_id> [--since 24h]       # leaked-credential playbook",
        "uv run supplychain idp token --user alice@acme --server inventory --base-port 9100",
        "the `supplychain` command, `python -m supplychain.cli`, SUPPLYCHAIN_HOME, postgresql:///supplychain",
        "every `supplychain ...` command, `uv run supplychain <command> --help`, `supplychain gateway COMMAND`",
    ],
)
def test_placeholders_values_and_other_uses_of_the_name_are_not_misread(line: str) -> None:
    assert [problem for shown in shown_commands(line, "page") for problem in problems_of(shown)] == []
