"""The Dockerfile read the way `docker build` reads it: instructions, grouped by stage, with each stage's
parents (`FROM <stage>`) and the stages it copies from (`COPY --from=<stage>`).

There is no Docker engine here, so the tests check the parsed file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.deploy.compose import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


@dataclass
class Stage:
    """One `FROM ... AS name` and its instructions (the FROM line first)."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        """The arguments of every `instruction` (COPY, RUN, ...) of this stage, in order."""
        return [arguments for name, arguments in self.instructions if name == instruction]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages() -> list[Stage]:
    """Every stage in order; the last one is what `docker build .` builds."""
    found: list[Stage] = []
    for name, arguments in instructions():
        if name == "FROM":
            base, _, stage_name = arguments.partition(" AS ")
            found.append(Stage(stage_name.strip(), base.strip()))
        if found:
            found[-1].instructions.append((name, arguments))
    return found


def stage(name: str) -> Stage:
    """The stage called `name`."""
    (found,) = [candidate for candidate in stages() if candidate.name == name]
    return found


def lineage(name: str) -> list[Stage]:
    """`name` and the stages it is built on (FROM), nearest first: whose instructions the image inherits."""
    names = {candidate.name for candidate in stages()}
    chain = [stage(name)]
    while chain[-1].base in names:
        chain.append(stage(chain[-1].base))
    return chain


def inherited(name: str, instruction: str) -> list[str]:
    """The arguments of `instruction` in stage `name` and its parents, the stage's own last."""
    return [arguments for ancestor in reversed(lineage(name)) for arguments in ancestor.arguments(instruction)]


def copy_source(arguments: str) -> tuple[str | None, list[str]]:
    """(the `--from` stage or None for the build context, the sources) of one COPY's arguments."""
    words = arguments.split()
    origin = next((word.split("=", 1)[1] for word in words if word.startswith("--from=")), None)
    paths = [word for word in words if not word.startswith("--")]
    return origin, paths[:-1]


def built_from(name: str) -> list[Stage]:
    """Every stage whose work ends up in the image of stage `name`: its lineage, and what it copies from."""
    found: dict[str, Stage] = {}
    pending = [name]
    while pending:
        for ancestor in lineage(pending.pop()):
            if ancestor.name in found:
                continue
            found[ancestor.name] = ancestor
            pending += [origin for origin, _ in map(copy_source, ancestor.arguments("COPY")) if origin]
    return list(found.values())
