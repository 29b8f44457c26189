"""Approval levels: who must say yes to a side effect, and how that is proved.

    confirm     the requester, in band, by a form elicitation: proves only that a client said yes
    verified    the requester, on the server's approval page after a fresh sign-in: a person said yes
    four_eyes   another person of the same tenant holding `<server>:decide`, on the page: never the requester

Each side effect declares its level (`securemcp.gate.side_effects.SideEffect`). A rule may raise one
call's level from what the call acts on (the locked row, or the arguments), and a deployment may raise
a tool's level (`SUPPLYCHAIN_<SERVER>_APPROVAL_LEVELS`); nothing lowers a level below the code's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar, get_args

Level = Literal["confirm", "verified", "four_eyes"]
LEVELS: tuple[Level, ...] = get_args(Level)  # weakest first

TargetT = TypeVar("TargetT")

LevelRule = Callable[[TargetT], "Level | None"]
"""Raises one call's level from what it acts on (the row the effect will change, or the arguments); None leaves it."""


def rank(level: Level) -> int:
    """0 for confirm, 1 for verified, 2 for four_eyes."""
    return LEVELS.index(level)


def strictest(*levels: Level | None) -> Level:
    """The strictest of `levels` (None entries ignored; confirm when there are none)."""
    present = [level for level in levels if level is not None]
    return max(present, key=rank) if present else "confirm"


def proves_a_person(level: Level) -> bool:
    """True for the levels a form answer can never satisfy: only a signed-in person on the page can."""
    return level != "confirm"


def deployment_level(tool: str, code_level: Level | None, setting: Level) -> Level:
    """The level a deployment setting gives `tool`; refuses a tool without a level (no side effect) or a lowering."""
    if code_level is None:
        raise RuntimeError(f"APPROVAL_LEVELS names {tool!r}, which has no side effect")
    if rank(setting) < rank(code_level):
        raise RuntimeError(f"APPROVAL_LEVELS cannot lower {tool!r} from {code_level} to {setting}")
    return setting
