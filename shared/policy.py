"""The RBAC policy: which scopes each role may hold.

One table, used by the dev authorization server when it grants scopes and re-checked by every server
when it reads a token: a scope that none of the caller's roles may hold is ignored, whatever the token
claims. Scopes name capabilities (`inventory:reorder`), not endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable

SERVERS = ("inventory", "logistics", "returns", "payments")

ALL_SCOPES = frozenset(
    {
        "inventory:read",
        "inventory:reorder",
        "logistics:read",
        "logistics:reroute",
        "returns:read",
        "returns:write",
        "payments:read",
        "payments:release",
        "payments:refund",
        "inventory:approve",
        "logistics:approve",
        "returns:approve",
        "payments:approve",
        "audit:read",
    }
)

# "Every :read" in the design means every domain read; reading the audit trail is the auditor's alone.
_READ_SCOPES = frozenset(scope for scope in ALL_SCOPES if scope.endswith(":read") and scope != "audit:read")

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "supply_chain_manager": (_READ_SCOPES - {"payments:read"}) | {"inventory:reorder", "logistics:reroute"},
    "finance": frozenset({"payments:read", "payments:release", "payments:refund", "returns:read"}),
    "analyst": _READ_SCOPES,
    "returns_agent": frozenset({"returns:read", "returns:write", "inventory:read"}),
    "auditor": frozenset({"audit:read"}),
    # Decides out-of-band approvals (`decide_approval`) on every server; reads what it is asked to judge.
    "approver": _READ_SCOPES | {f"{server}:approve" for server in SERVERS},
}


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
