"""The RBAC policy: which scopes each role may hold.

One table, used by the dev authorization server when it grants scopes and re-checked by every server
when it reads a token: a scope that none of the caller's roles may hold is ignored, whatever the token
claims. Scopes name capabilities (`inventory:reorder`), not endpoints. `<server>:decide` is reserved
for people deciding approvals on the server's approval page: no tool may require it
(`shared.authz.register_tools` refuses one at start-up), so no agent can decide through a tool.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.registry import REGISTRY, SERVERS

ALL_SCOPES = frozenset({"audit:read"}.union(*(server.scopes for server in REGISTRY.values())))

# "Every :read" in the design means every domain read; reading the audit trail is the auditor's alone.
_READ_SCOPES = frozenset(scope for scope in ALL_SCOPES if scope.endswith(":read") and scope != "audit:read")

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "supply_chain_manager": (_READ_SCOPES - {"payments:read"}) | {"inventory:reorder", "logistics:reroute"},
    "finance": frozenset({"payments:read", "payments:release", "payments:refund", "returns:read"}),
    "analyst": _READ_SCOPES,
    "returns_agent": frozenset({"returns:read", "returns:write", "inventory:read"}),
    "auditor": frozenset({"audit:read"}),
    # Decides four-eyes approvals on every server's approval page; reads what it is asked to judge.
    "approver": _READ_SCOPES | {f"{server}:decide" for server in SERVERS},
}


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
