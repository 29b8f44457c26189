"""The RBAC policy: which scopes each role may hold.

One table, used by the dev authorization server when it grants scopes and re-checked by every server
when it reads a token: a scope that none of the caller's roles may hold is ignored, whatever the token
claims. Scopes name capabilities (`inventory:reorder`), not endpoints. `<server>:decide` is reserved
for people deciding approvals on the server's approval page: no tool may require it
(`shared.authz.register_tools` refuses one at start-up), so no agent can decide through a tool.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.registry import REGISTRY

ALL_SCOPES = frozenset({"audit:read"}.union(*(server.scopes for server in REGISTRY.values())))

# One line per (role, server): a role holds a scope only where a line below names it, so a new server's
# scopes reach no existing role until a line says so. A role is every role some line names.
GRANTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("supply_chain_manager", frozenset({"inventory:read", "inventory:reorder"})),
    ("supply_chain_manager", frozenset({"logistics:read", "logistics:reroute"})),
    ("supply_chain_manager", frozenset({"returns:read"})),
    ("finance", frozenset({"payments:read", "payments:release", "payments:refund"})),
    ("finance", frozenset({"returns:read"})),
    ("analyst", frozenset({"inventory:read"})),
    ("analyst", frozenset({"logistics:read"})),
    ("analyst", frozenset({"returns:read"})),
    ("analyst", frozenset({"payments:read"})),
    ("returns_agent", frozenset({"returns:read", "returns:write"})),
    ("returns_agent", frozenset({"inventory:read"})),
    ("auditor", frozenset({"audit:read"})),
    # Decides four-eyes approvals on each server's approval page; reads what it is asked to judge.
    ("approver", frozenset({"inventory:read", "inventory:decide"})),
    ("approver", frozenset({"logistics:read", "logistics:decide"})),
    ("approver", frozenset({"returns:read", "returns:decide"})),
    ("approver", frozenset({"payments:read", "payments:decide"})),
    # supplychain new-server adds lines above this one
)


def _role_scopes(grants: tuple[tuple[str, frozenset[str]], ...]) -> dict[str, frozenset[str]]:
    """The table by role; a scope no server defines (a typo, a removed server) stops the import."""
    unknown = sorted(set().union(*(scopes for _, scopes in grants)) - ALL_SCOPES)
    if unknown:
        raise ValueError(f"shared.policy grants scope(s) no server defines: {', '.join(unknown)}")
    table: dict[str, frozenset[str]] = {}
    for role, scopes in grants:
        table[role] = table.get(role, frozenset()) | scopes
    return table


ROLE_SCOPES: dict[str, frozenset[str]] = _role_scopes(GRANTS)


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
