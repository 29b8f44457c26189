"""This deployment's role policy: which scopes each role may hold, one line per role and server.

Used by the dev authorization server when it grants scopes and re-checked by every server when it
reads a token (`securemcp.policy.RolePolicy`, handed to each server by its settings class).
Scopes name capabilities (`inventory:reorder`), not endpoints. `<server>:decide` is reserved for people
deciding approvals on the server's approval page.
"""

from __future__ import annotations

from collections.abc import Mapping

from securemcp.policy import RolePolicy

from deployment.registry import REGISTRY

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

# Checked against every scope a server defines, then frozen: the lines above are the whole policy.
POLICY = RolePolicy.of(_grants, known_scopes=ALL_SCOPES)
del _grants

ROLE_SCOPES: Mapping[str, frozenset[str]] = POLICY.grants
scopes_for_roles = POLICY.scopes_for_roles
effective_scopes = POLICY.effective_scopes
