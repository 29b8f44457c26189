"""Identity and the RBAC policy: scopes come from roles, and nothing else widens them."""

from __future__ import annotations

import operator
from collections.abc import Callable

import pytest
from securemcp.identity.principal import (
    IdentityError,
    identity_from_claims,
    identity_from_roles,
    local_identity_from_env,
)
from securemcp.policy import RolePolicy

from deployment.policy import ALL_SCOPES, POLICY, ROLE_SCOPES, scopes_for_roles
from deployment.registry import REGISTRY, SERVERS
from tests.server_cases import cases

ISSUER = "https://idp.example.test"  # a verified token always names its issuer (JWTVerifier checks it)

# The handbook's role table for the example servers and the auditor (scopes of a server no longer in the
# registry drop out: the examples are there to be replaced).
DESIGN = {
    "supply_chain_manager": {
        "inventory:read", "logistics:read", "returns:read", "inventory:reorder", "logistics:reroute",
    },
    "finance": {"payments:read", "payments:release", "payments:refund", "returns:read"},
    "analyst": {"inventory:read", "logistics:read", "returns:read", "payments:read"},
    "returns_agent": {"returns:read", "returns:write", "inventory:read"},
    "auditor": {"audit:read"},
    "approver": {
        "inventory:read", "logistics:read", "returns:read", "payments:read",
        "inventory:decide", "logistics:decide", "returns:decide", "payments:decide",
    },
}  # fmt: skip


def test_role_table_matches_the_design_on_the_registered_example_servers() -> None:
    """A server added later may grant these roles its own scopes (by a line), never change these."""
    registered = {"audit:read"}.union(*(server.scopes for server in REGISTRY.values()))
    designed = {role: scopes & registered for role, scopes in DESIGN.items()}
    in_the_design = set().union(*designed.values())
    assert {role: ROLE_SCOPES[role] & in_the_design for role in DESIGN} == designed


def test_each_role_holds_exactly_what_each_servers_lines_grant_it() -> None:
    """Pinned per server (`ROLES` in tests/<server>/cases.py): a server's scopes reach a role only by a policy
    line, and a line without its pin (or a pin without its line) fails here."""
    expected: dict[str, set[str]] = {"auditor": {"audit:read"}}
    for server in SERVERS:
        for role, scopes in cases(server).ROLES.items():
            assert scopes <= REGISTRY[server].scopes, (server, role, scopes)  # a server pins only its own scopes
            expected.setdefault(role, set()).update(scopes)
    assert expected == ROLE_SCOPES


@pytest.mark.parametrize(
    ("widen", "refusal"),
    [
        (lambda: operator.setitem(ROLE_SCOPES, "analyst", ROLE_SCOPES["analyst"] | {"payments:refund"}), TypeError),
        (lambda: operator.setitem(ROLE_SCOPES, "intruder", frozenset({"payments:refund"})), TypeError),
        (lambda: operator.delitem(ROLE_SCOPES, "auditor"), TypeError),
        (lambda: ROLE_SCOPES["analyst"].add("payments:refund"), AttributeError),  # a frozenset
    ],
    ids=["widen a role", "add a role", "remove a role", "add to a role's set"],
)
def test_the_policy_table_cannot_be_changed_after_import(widen: Callable[[], object], refusal: type[Exception]) -> None:
    """The explicit lines are the whole policy: no module can grant a role a scope at run time."""
    before = {role: set(scopes) for role, scopes in ROLE_SCOPES.items()}
    with pytest.raises(refusal):
        widen()
    assert before == ROLE_SCOPES
    assert "payments:refund" not in scopes_for_roles(["analyst"])


def test_a_grant_of_a_scope_no_server_defines_is_refused() -> None:
    table = {**ROLE_SCOPES, "supply_chain_manager": ROLE_SCOPES["supply_chain_manager"] | {"inventory:rorder"}}
    with pytest.raises(ValueError, match="grants scope\\(s\\) no server defines: inventory:rorder"):
        RolePolicy.of(table, known_scopes=ALL_SCOPES)


def test_token_scopes_the_role_may_not_hold_are_ignored() -> None:
    claims = {
        "iss": ISSUER, "tenant_id": "acme", "sub": "ana@acme", "roles": ["analyst"],
        "scope": "inventory:read payments:refund inventory:reorder",
    }  # fmt: skip
    assert identity_from_claims(claims, POLICY).scopes == {"inventory:read"}


def test_unknown_roles_in_a_token_grant_nothing() -> None:
    claims = {
        "iss": ISSUER,
        "tenant_id": "acme",
        "sub": "x@acme",
        "roles": ["root", "admin"],
        "scope": "payments:refund",
    }
    identity = identity_from_claims(claims, POLICY)
    assert identity.roles == frozenset() and identity.scopes == frozenset()


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "a@acme", "roles": ["analyst"], "scope": "inventory:read"},
        {"tenant_id": "", "sub": "a@acme", "roles": ["analyst"]},
        {"tenant_id": "Acme'--", "sub": "a@acme", "roles": ["analyst"]},
        {"tenant_id": "acme", "roles": ["analyst"]},
        {"tenant_id": "acme", "sub": "a@acme", "roles": "analyst"},
        {"tenant_id": "acme", "sub": "a@acme", "roles": ["analyst"], "scope": ["inventory:read"]},
    ],
)
def test_malformed_claims_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(IdentityError):
        identity_from_claims(claims, POLICY)


def test_read_only_mode_keeps_only_reading_scopes() -> None:
    manager = identity_from_roles(
        policy=POLICY,
        tenant_id="acme",
        user_id="alice@acme",
        roles=frozenset({"supply_chain_manager"}),
        read_only_mode=True,
    )
    # The manager's reading scopes as each server's cases pin them (a scaffolded server may add its own).
    reading = {scope for server in SERVERS for scope in cases(server).ROLES.get("supply_chain_manager", ())}
    assert manager.scopes == {scope for scope in reading if scope.endswith(":read")}
    assert {"inventory:read", "logistics:read", "returns:read"} <= manager.scopes
    assert not manager.scopes & {"inventory:reorder", "logistics:reroute", "payments:read"}


def test_a_token_identity_holds_its_scopes_and_knows_what_its_roles_would_allow() -> None:
    """What a step-up could add is the roles' scopes, never a claimed scope the roles do not allow."""
    claims = {"iss": ISSUER, "tenant_id": "acme", "sub": "alice@acme", "roles": ["supply_chain_manager", "owner"]}
    alice = identity_from_claims({**claims, "scope": "inventory:read payments:refund"}, POLICY)
    assert alice.scopes == {"inventory:read"}
    assert alice.roles_allow("inventory:reorder") and not alice.has_scope("inventory:reorder")
    assert not alice.roles_allow("payments:refund") and not alice.roles_allow("audit:read")
    read_only = identity_from_claims(
        {**claims, "scope": "inventory:read inventory:reorder"}, POLICY, read_only_mode=True
    )
    assert read_only.scopes == {"inventory:read"} and not read_only.roles_allow("inventory:reorder")


def test_local_identity_needs_every_variable_and_known_roles() -> None:
    env = {"SUPPLYCHAIN_TENANT": "acme", "SUPPLYCHAIN_USER": "rita@acme", "SUPPLYCHAIN_ROLES": "returns_agent, analyst"}
    identity = local_identity_from_env(POLICY, env)
    assert identity.scopes == scopes_for_roles(["returns_agent", "analyst"])
    with pytest.raises(IdentityError, match="set SUPPLYCHAIN_ROLES"):
        local_identity_from_env(POLICY, {**env, "SUPPLYCHAIN_ROLES": ""})
    with pytest.raises(IdentityError, match="unknown role 'owner'"):
        local_identity_from_env(POLICY, {**env, "SUPPLYCHAIN_ROLES": "owner"})
    with pytest.raises(IdentityError, match="names no role"):
        local_identity_from_env(POLICY, {**env, "SUPPLYCHAIN_ROLES": " , "})
