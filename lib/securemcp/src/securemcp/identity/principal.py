"""Who is calling: the one identity type every tool sees, whatever the phase.

Phase 1 (stdio) fills it from the configured local identity; phase 2 and 3 fill it from a verified
bearer token. Tools never know which: they receive an `Identity` and nothing else about the caller.
Tenant and user never come from tool arguments or request headers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from securemcp.identity.issuers import ClaimError, TrustedIssuer, issuer_for_any_tenant
from securemcp.policy import RolePolicy, UnknownRoleError, read_only
from securemcp.settings import DEFAULT_PERSON_CLAIM

TENANT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
_CLAIM_VALUE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces: subjects, oids, emails
# A user id is whatever subject the tenant's IdP issues (`alice@acme`, a UUID, `auth0|64f1c2`, an e-mail
# address): printable ASCII without spaces, so it is safe in logs, terminals and audit records as is.
USER_ID_PATTERN = _CLAIM_VALUE


class IdentityError(ValueError):
    """The identity is missing or malformed; the caller is refused (fail closed)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller: tenant, user, roles, the scopes it holds now and the scopes its roles allow.

    `scopes` is what this call may use (the token's scopes that the roles allow). `allowed_scopes` is
    every scope the roles allow, so also what a step-up could add; it never grants anything itself.
    """

    tenant_id: str
    user_id: str
    roles: frozenset[str]
    scopes: frozenset[str]
    client_id: str = "local"
    allowed_scopes: frozenset[str] = frozenset()
    # The person across clients (`securemcp.identity.principal.person_id`); None for a configured local identity,
    # whose approvals are then matched to their decider by `user_id` as before.
    person_id: str | None = None

    def __post_init__(self) -> None:
        if not TENANT_ID_PATTERN.fullmatch(self.tenant_id):
            raise IdentityError(f"malformed tenant id {self.tenant_id!r}")
        if not USER_ID_PATTERN.fullmatch(self.user_id):
            raise IdentityError(f"malformed user id {self.user_id!r}")

    def has_scope(self, scope: str) -> bool:
        """True when this caller may use `scope`."""
        return scope in self.scopes

    def roles_allow(self, scope: str) -> bool:
        """True when the caller's roles allow `scope`, whether or not it holds it now (step-up)."""
        return scope in self.allowed_scopes


def identity_from_roles(
    *,
    tenant_id: str,
    user_id: str,
    roles: frozenset[str],
    policy: RolePolicy,
    requested_scopes: frozenset[str] | None = None,
    client_id: str = "local",
    read_only_mode: bool = False,
    person: str | None = None,
) -> Identity:
    """Build an identity whose scopes are what the roles allow (and, if given, what was requested)."""
    try:
        allowed = policy.scopes_for_roles(roles)
    except UnknownRoleError as exc:
        raise IdentityError(str(exc)) from None
    if read_only_mode:
        allowed = read_only(allowed)
    scopes = allowed if requested_scopes is None else policy.effective_scopes(requested_scopes, roles) & allowed
    return Identity(
        tenant_id=tenant_id,
        user_id=user_id,
        roles=roles,
        scopes=scopes,
        client_id=client_id,
        allowed_scopes=allowed,
        person_id=person,
    )


def local_identity_from_env(
    policy: RolePolicy, env: Mapping[str, str] | None = None, *, read_only_mode: bool = False
) -> Identity:
    """The phase 1 identity from SUPPLYCHAIN_TENANT, SUPPLYCHAIN_USER and SUPPLYCHAIN_ROLES.

    Every value is required; a missing or unknown one raises `IdentityError` with a one-line reason,
    so a stdio server refuses to start rather than run as nobody in particular.
    """
    env = os.environ if env is None else env
    missing = [name for name in ("SUPPLYCHAIN_TENANT", "SUPPLYCHAIN_USER", "SUPPLYCHAIN_ROLES") if not env.get(name)]
    if missing:
        raise IdentityError(f"local identity not configured: set {', '.join(missing)}")
    roles = frozenset(role.strip() for role in env["SUPPLYCHAIN_ROLES"].split(",") if role.strip())
    if not roles:
        raise IdentityError("SUPPLYCHAIN_ROLES names no role")
    return identity_from_roles(
        tenant_id=env["SUPPLYCHAIN_TENANT"],
        user_id=env["SUPPLYCHAIN_USER"],
        roles=roles,
        policy=policy,
        read_only_mode=read_only_mode,
    )


@lru_cache(maxsize=16)
def _one_issuer_for_any_tenant(person_claim: str) -> TrustedIssuer:
    """The issuer of a deployment without an issuers file (`TrustedIssuers.single`), whatever its URL."""
    return issuer_for_any_tenant("", person_claim=person_claim)


def identity_from_claims(
    claims: Mapping[str, Any],
    policy: RolePolicy,
    *,
    read_only_mode: bool = False,
    person_claim: str = DEFAULT_PERSON_CLAIM,
    issuer: TrustedIssuer | None = None,
) -> Identity:
    """The identity a verified token of `issuer` describes, read through its claim mapping.

    Its tenant is the one its issuer decides (`TrustedIssuer.tenant_of`, which raises
    `securemcp.identity.issuers.TenantMismatch` for a token naming another); its scopes are re-checked
    against the RBAC policy; its person is the issuer plus the mapping's person claim (a token without
    it is refused). Without `issuer`: one issuer for any tenant, named by `tenant_id`, person by `person_claim`.
    """
    issuer = issuer or _one_issuer_for_any_tenant(person_claim)
    mapping = issuer.claims
    try:
        tenant = issuer.tenant_of(claims)
        roles = mapping.roles_of(claims)
        requested = mapping.scopes_of(claims)
    except ClaimError as error:
        raise IdentityError(str(error)) from None
    # Roles the policy does not define grant nothing; they are dropped rather than trusted.
    known_roles = frozenset(role for role in roles if policy.knows(role))
    return identity_from_roles(
        tenant_id=tenant,
        user_id=str(claims.get("sub", "")),
        roles=known_roles,
        policy=policy,
        requested_scopes=requested,
        client_id=str(claims.get("client_id", "") or claims.get("azp", "") or "unknown"),
        read_only_mode=read_only_mode,
        person=person_id(claims, mapping.person),
    )


def person_id(claims: Mapping[str, Any], claim: str = DEFAULT_PERSON_CLAIM) -> str:
    """One person whichever client their token was issued to: `<iss> <claim>=<value>`.

    Four eyes and `verified` compare it between the requester (access token, MCP client) and the decider
    (ID token, approval pages' client). An IdP with pairwise subjects (Microsoft Entra ID) gives one
    person a different `sub` per client, so such a deployment names a claim that stays the same (`oid`).
    The id names the claim, so ids made from different claims never compare equal. A token without a
    usable value raises `IdentityError`: a person who cannot be told apart is refused.
    """
    issuer, value = claims.get("iss"), claims.get(claim)
    if not isinstance(issuer, str) or not _CLAIM_VALUE.fullmatch(issuer):
        raise IdentityError("the token names no usable issuer")
    if not isinstance(value, str) or not _CLAIM_VALUE.fullmatch(value):
        raise IdentityError(f"the token carries no usable {claim!r} claim to name the person")
    return f"{issuer} {claim}={value}"
