"""Role policy: the rules for which scopes a role may hold. The table itself is the deployment's.

The library holds no roles and no scopes of its own: a deployment builds one `RolePolicy` from its
table (`RolePolicy.of`) and hands it to each server through its settings class (`ServerSettings.policy`).
Every check reads that one frozen object: the dev authorization server when it grants scopes, and each
server when it reads a token (a scope that none of the caller's roles may hold is ignored, whatever the
token claims). `<server>:decide` is reserved for people deciding approvals on the server's approval
page: no tool may require it (`securemcp.gate.tool_table.register_tools` refuses one at start-up), so no
agent can decide through a tool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType


class UnknownRoleError(ValueError):
    """A role name that the policy does not define."""


@dataclass(frozen=True)
class RolePolicy:
    """Which scopes each role may hold: read-only once built, so no module can widen a role at run time."""

    grants: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, grants: Mapping[str, Iterable[str]], *, known_scopes: Iterable[str]) -> RolePolicy:
        """The policy of `grants`; a scope that no server defines (a typo, a removed server) stops the start."""
        known = frozenset(known_scopes)
        unknown = sorted(set().union(*map(set, grants.values())) - known) if grants else []
        if unknown:
            raise ValueError(f"the role policy grants scope(s) no server defines: {', '.join(unknown)}")
        return cls(MappingProxyType({role: frozenset(scopes) for role, scopes in grants.items()}))

    @cached_property
    def version(self) -> str:
        """A digest of the whole table (16 hex digits): an approval records the version it was asked under,
        and does not run under another (`securemcp.approvals.recheck`). Equal tables, equal versions."""
        table = {role: sorted(scopes) for role, scopes in sorted(self.grants.items())}
        return hashlib.sha256(json.dumps(table, separators=(",", ":")).encode()).hexdigest()[:16]

    def knows(self, role: str) -> bool:
        """True for a role the policy defines."""
        return role in self.grants

    def scopes_for_roles(self, roles: Iterable[str]) -> frozenset[str]:
        """Every scope that at least one of `roles` may hold; an unknown role raises `UnknownRoleError`."""
        granted: set[str] = set()
        for role in roles:
            if role not in self.grants:
                raise UnknownRoleError(f"unknown role {role!r}; known roles: {', '.join(sorted(self.grants))}")
            granted |= self.grants[role]
        return frozenset(granted)

    def scopes_for_known_roles(self, roles: Iterable[str]) -> frozenset[str]:
        """What the roles the policy defines allow: roles it does not define grant nothing."""
        return self.scopes_for_roles(role for role in roles if role in self.grants)

    def effective_scopes(self, requested: Iterable[str], roles: Iterable[str]) -> frozenset[str]:
        """The requested scopes that the roles allow: what a token may actually use."""
        return frozenset(requested) & self.scopes_for_known_roles(roles)


def decide_scope(server: str) -> str:
    """The scope that lets a person decide `server`'s four-eyes approvals on its approval page."""
    return f"{server}:decide"


def is_decision_scope(scope: str) -> bool:
    """True for a scope reserved for decisions (`<anything>:decide`): no tool may require one."""
    return scope.rpartition(":")[2] == "decide"


def reading_scope(server: str) -> str:
    """The scope a client is asked for first on `server`; any other scope there is reached by step-up."""
    return f"{server}:read"


def read_only(scopes: Iterable[str]) -> frozenset[str]:
    """Only the reading scopes: what a server started with `--read-only` honours."""
    return frozenset(scope for scope in scopes if scope.endswith(":read"))
