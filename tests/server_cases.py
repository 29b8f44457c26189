"""What each server gives the cross-server tests: `tests/<server>/cases.py`, found by the server's name.

Cross-server tests are parametrised over `deployment.registry.SERVERS` and take what they need of each
server from that module, so a new server gets every cross-server test once its `cases.py` exists
(`supplychain new-server` writes one). Each `cases.py` defines:

- `ROLES`: role -> the scopes of this server that role holds, as `deployment.policy`'s lines grant them
  (tests/shared/test_identity.py pins every role to the union of these);
- `FUZZ_USER`: the fixture user whose tenant tests/fuzz calls every tool for (holding every role);
- `SIDE_EFFECTS`: tool -> `SideEffect`, one for every side-effecting tool: the idempotency and approval
  tests run each (tests/shared/test_side_effect_coverage.py fails when a side effect has none); its
  `level` names the level its call needs when the tool's rule raises it (e.g. a large payment).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any

from securemcp.gate.side_effects import SideEffect as SideEffectDeclaration
from securemcp.levels import Level

from deployment.policy import scopes_for_roles
from deployment.registry import REGISTRY, SERVERS
from fixtures.tenants import USERS
from supplychain.servers import server_module


@dataclass(frozen=True)
class SideEffect:
    """A side-effecting call the tests can make: who, with which arguments, and a different valid call."""

    user: str  # a fixture user whose roles allow the tool
    arguments: dict[str, Any]  # valid arguments: approved, the call changes something
    changed: dict[str, Any]  # other valid arguments: another call under the same idempotency key
    # The level the call with `arguments` needs when the tool's rule raises it above the declared one.
    level: Level | None = None


def cases(server: str) -> ModuleType:
    """`tests.<server>.cases`; a clear error when the server has none yet."""
    try:
        return import_module(f"tests.{server}.cases")
    except ModuleNotFoundError as missing:
        if missing.name not in {f"tests.{server}", f"tests.{server}.cases"}:
            raise
        raise LookupError(
            f"server {server!r} has no tests/{server}/cases.py: the cross-server tests need its ROLES, FUZZ_USER "
            "and SIDE_EFFECTS (see tests/server_cases.py)"
        ) from None


def side_effects() -> dict[tuple[str, str], SideEffect]:
    """(server, tool) -> its `SideEffect`, for every server in the registry."""
    return {(server, tool): case for server in SERVERS for tool, case in cases(server).SIDE_EFFECTS.items()}


def declared_side_effects(server: str) -> dict[str, Level]:
    """The side-effecting tools `server` registers, with the (least) approval level each declares."""
    return {tool.name: tool.level for tool in server_module(server).TOOLS if isinstance(tool, SideEffectDeclaration)}


def case_level(server: str, tool: str) -> Level:
    """The approval level the call of `tool`'s case needs: the declared one, unless the case says its row raises it."""
    return cases(server).SIDE_EFFECTS[tool].level or declared_side_effects(server)[tool]


def asked_in_band(server: str, tool: str) -> bool:
    """True when the human is asked in the call itself (`confirm`); else the call waits for the approval page."""
    return case_level(server, tool) == "confirm"


def reader(server: str) -> str:
    """A fixture user whose roles allow reading `server` (the first in `fixtures.tenants.USERS`)."""
    scope = REGISTRY[server].read_scope
    return next(user for user, (_tenant, roles) in USERS.items() if scope in scopes_for_roles(roles))
