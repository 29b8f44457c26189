"""The RBAC policy: which scopes each role may hold.

One table, used by the dev authorization server when it grants scopes and re-checked by every server
when it reads a token: a scope that none of the caller's roles may hold is ignored, whatever the token
claims. Scopes name capabilities (`inventory:reorder`), not endpoints. `<server>:decide` is reserved
for people deciding approvals on the server's approval page: no tool may require it
(`shared.authz.register_tools` refuses one at start-up), so no agent can decide through a tool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from shared.registry import REGISTRY

ALL_SCOPES = frozenset({"audit:read"}.union(*(server.scopes for server in REGISTRY.values())))

ROLES = ("supply_chain_manager", "finance", "analyst", "returns_agent", "auditor", "approver")

# One line per role and server: a role holds a scope only where a line below grants it, so a new
# server's scopes reach no role until a line says so (tests/shared/test_identity.py pins every role).
_grants: dict[str, frozenset[str]] = dict.fromkeys(ROLES, frozenset())
_grants["supply_chain_manager"] |= {"inventory:read", "inventory:reorder"}
_grants["supply_chain_manager"] |= {"logistics:read", "logistics:reroute"}
_grants["supply_chain_manager"] |= {"returns:read"}
_grants["finance"] |= {"payments:read", "payments:release", "payments:refund"}
_grants["finance"] |= {"returns:read"}
_grants["analyst"] |= {"inventory:read"}
_grants["analyst"] |= {"logistics:read"}
_grants["analyst"] |= {"returns:read"}
_grants["analyst"] |= {"payments:read"}
_grants["returns_agent"] |= {"returns:read", "returns:write"}
_grants["returns_agent"] |= {"inventory:read"}
_grants["auditor"] |= {"audit:read"}
# Decides four-eyes approvals on each server's approval page; reads what it is asked to judge.
_grants["approver"] |= {"inventory:read", "inventory:decide"}
_grants["approver"] |= {"logistics:read", "logistics:decide"}
_grants["approver"] |= {"returns:read", "returns:decide"}
_grants["approver"] |= {"payments:read", "payments:decide"}
# `supplychain new-server` adds its lines above this one


def refuse_unknown_scopes(table: Mapping[str, frozenset[str]]) -> None:
    """Stop at import when a line grants a scope no server defines (a typo, or a removed server)."""
    unknown = sorted(set().union(*table.values()) - ALL_SCOPES)
    if unknown:
        raise ValueError(f"shared.policy grants scope(s) no server defines: {', '.join(unknown)}")


refuse_unknown_scopes(_grants)

# The table every check reads, read-only: once the lines above are checked, no module can widen a role
# at run time (a write raises TypeError), so the lines above are the whole policy.
ROLE_SCOPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {role: frozenset(scopes) for role, scopes in _grants.items()}
)
del _grants


def decide_scope(server: str) -> str:
    """The scope that lets a person decide `server`'s four-eyes approvals on its approval page."""
    return f"{server}:decide"


def is_decision_scope(scope: str) -> bool:
    """True for a scope reserved for decisions (`<anything>:decide`): no tool may require one."""
    return scope.rpartition(":")[2] == "decide"


class UnknownRoleError(ValueError):
    """A role name that the policy does not define."""


def scopes_for_roles(roles: Iterable[str]) -> frozenset[str]:
    """Every scope that at least one of `roles` may hold; unknown roles raise."""
    granted: set[str] = set()
    for role in roles:
        if role not in ROLE_SCOPES:
            raise UnknownRoleError(f"unknown role {role!r}; known roles: {', '.join(sorted(ROLE_SCOPES))}")
        granted |= ROLE_SCOPES[role]
    return frozenset(granted)


def effective_scopes(requested: Iterable[str], roles: Iterable[str]) -> frozenset[str]:
    """The requested scopes that the roles allow: what a token may actually use."""
    allowed = scopes_for_roles(role for role in roles if role in ROLE_SCOPES)
    return frozenset(requested) & allowed


def reading_scope(server: str) -> str:
    """The scope a client is asked for first on `server`; any other scope there is reached by step-up."""
    return f"{server}:read"


def read_only(scopes: Iterable[str]) -> frozenset[str]:
    """Only the reading scopes: what a server started with `--read-only` honours."""
    return frozenset(scope for scope in scopes if scope.endswith(":read"))
