"""Trusted issuers: which identity providers a server believes, for which tenants, and how to read their claims.

Each customer organisation may bring its own IdP. A `TrustedIssuer` names one issuer, the tenant or tenants
it may speak for, where its keys are, the audience its tokens must carry, and its `ClaimMapping` (which claim
is the person, which gives scopes and roles). `TrustedIssuers` is the table: a token is looked up by its
(unverified) `iss`, then verified with that issuer's keys only (`securemcp.identity.tokens.JWTVerifier`).

Guarantees:
- the tenant of a call is decided by the issuer that signed the token: its one tenant, or its tenant claim
  mapped through its table and required to be among its tenants. A `tenant_id` claim naming another
  tenant is refused (`TenantMismatch`), never followed;
- roles come only from the mapped claim; through a `role_table`, a value the table does not map is dropped;
- the table is read from a TOML file (`securemcp.identity.issuers_file`) strictly: a mistake stops the start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from securemcp.settings import DEFAULT_PERSON_CLAIM

ScopesClaim = Literal["scope", "scp"]
LEGACY_TENANT_CLAIM = "tenant_id"  # the claim one shared issuer uses to name any tenant (the dev IdP)


class ClaimError(ValueError):
    """A verified token whose claims the issuer's mapping cannot read (malformed or missing)."""


class TenantMismatch(ValueError):
    """A verified token that names a tenant its issuer may not speak for; `bound` is the issuer's own
    tenant when it has exactly one (the refusal is then recorded in that tenant's chain)."""

    def __init__(self, message: str, *, bound: str | None) -> None:
        super().__init__(message)
        self.bound = bound


def _frozen(table: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(table or {}))


@dataclass(frozen=True)
class ClaimMapping:
    """How one issuer names the person, the scopes and the roles in its tokens."""

    person: str = DEFAULT_PERSON_CLAIM
    scopes: ScopesClaim = "scope"  # `scope`: a space-separated string; `scp`: a string or a JSON array
    roles: str = "roles"  # a dotted path into nested objects, e.g. Keycloak's `realm_access.roles`
    # Claim values (group object ids, say) to role names; set, it is the only way to a role: others drop.
    role_table: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.role_table is not None:
            object.__setattr__(self, "role_table", _frozen(self.role_table))

    def scopes_of(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The scopes the token asks for (the RBAC policy cuts them afterwards)."""
        value = claims.get(self.scopes)
        if value is None:
            return frozenset()
        if isinstance(value, str):
            return frozenset(value.split())
        if self.scopes == "scp" and isinstance(value, list) and all(isinstance(item, str) for item in value):
            return frozenset(value)
        raise ClaimError(f"malformed {self.scopes} claim")

    def roles_of(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The role names the token's roles claim maps to (before the policy drops roles it does not know)."""
        value: Any = claims
        for step in self.roles.split("."):
            value = value.get(step) if isinstance(value, Mapping) else None
        if not value:  # absent, null or empty: no roles
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ClaimError(f"malformed {self.roles} claim")
        if self.role_table is None:
            return frozenset(value)
        return frozenset(self.role_table[item] for item in value if item in self.role_table)


@dataclass(frozen=True)
class PagesClient:
    """The approval pages' OpenID Connect client registered at one issuer: its id, and the file holding its
    secret (None: a public client, PKCE alone). The secret itself is read where the pages start."""

    client_id: str
    client_secret_file: Path | None = None


@dataclass(frozen=True)
class TrustedIssuer:
    """One issuer the server believes, and what it may say (see the module docstring)."""

    issuer: str
    # The tenants it may speak for; None only for the deployment without an issuers file, whose one
    # issuer names any tenant in its `tenant_id` claim.
    tenants: frozenset[str] | None
    jwks_url: str | None = None  # else RFC 8414 / OpenID discovery
    audience: str | None = None  # else the server's canonical resource URL (RFC 8707)
    claims: ClaimMapping = field(default_factory=ClaimMapping)
    # The algorithms its keys may sign with; None: its discovery metadata's, for keys without `alg`.
    algorithms: frozenset[str] | None = None
    tenant_claim: str | None = None  # a multi-tenant issuer only (Entra: `tid`)
    tenant_table: Mapping[str, str] | None = None  # tenant claim values to tenant ids; unmapped: refused
    revocation: Literal["list", "none"] | None = None  # None: the server's REVOCATION setting
    # The approval pages' client at this issuer; None: the settings' for ISSUER_URL, else RFC 7591 registration.
    approvals: PagesClient | None = None

    def __post_init__(self) -> None:
        if self.tenant_table is not None:
            object.__setattr__(self, "tenant_table", _frozen(self.tenant_table))

    @property
    def bound_tenant(self) -> str | None:
        """The one tenant this issuer speaks for, if it speaks for exactly one."""
        if self.tenants is not None and len(self.tenants) == 1:
            return next(iter(self.tenants))
        return None

    def tenant_of(self, claims: Mapping[str, Any]) -> str:
        """The tenant this verified token acts in; `TenantMismatch` when it names another, `ClaimError`
        when the tenant claim is missing or malformed."""
        tenant = self.bound_tenant if self.tenant_claim is None else self._tenant_from_claim(claims)
        if tenant is None:  # unreachable for a parsed table: a multi-tenant issuer has a tenant claim
            raise ClaimError("the issuer names no tenant")
        claimed = claims.get(LEGACY_TENANT_CLAIM)
        if claimed is not None and claimed != tenant:
            # Refused, never followed: the issuer decides the tenant, not a claim inside its token.
            raise TenantMismatch(f"token claims tenant {str(claimed)[:64]!r}, its issuer speaks for {tenant!r}",
                                 bound=tenant)  # fmt: skip
        return tenant

    def _tenant_from_claim(self, claims: Mapping[str, Any]) -> str:
        assert self.tenant_claim is not None
        value = claims.get(self.tenant_claim)
        if not isinstance(value, str) or not value:
            raise ClaimError(f"no usable {self.tenant_claim} claim")
        if self.tenant_table is not None:
            tenant = self.tenant_table.get(value)
            if tenant is None:
                raise TenantMismatch(f"{self.tenant_claim} {value[:64]!r} maps to no tenant", bound=self.bound_tenant)
        else:
            tenant = value
        if self.tenants is not None and tenant not in self.tenants:
            raise TenantMismatch(f"{self.tenant_claim} names tenant {tenant[:64]!r}, not one of its issuer's",
                                 bound=self.bound_tenant)  # fmt: skip
        return tenant


def issuer_for_any_tenant(issuer_url: str, *, person_claim: str = DEFAULT_PERSON_CLAIM) -> TrustedIssuer:
    """The one issuer of a deployment without an issuers file: any tenant, named by its `tenant_id` claim."""
    mapping = ClaimMapping(person=person_claim)
    return TrustedIssuer(issuer=issuer_url, tenants=None, claims=mapping, tenant_claim=LEGACY_TENANT_CLAIM)


class TrustedIssuers:
    """The table of trusted issuers, by issuer URL (exact string match, as `iss` is compared)."""

    def __init__(self, issuers: Iterable[TrustedIssuer]) -> None:
        self._by_url: dict[str, TrustedIssuer] = {}
        for issuer in issuers:
            if issuer.issuer in self._by_url:
                raise ValueError(f"issuer {issuer.issuer!r} listed twice")
            self._by_url[issuer.issuer] = issuer
        if not self._by_url:
            raise ValueError("no trusted issuer")

    @classmethod
    def single(cls, issuer_url: str, *, person_claim: str = DEFAULT_PERSON_CLAIM) -> TrustedIssuers:
        """The table of a deployment without an issuers file: one issuer, any tenant from its `tenant_id` claim."""
        return cls([issuer_for_any_tenant(issuer_url, person_claim=person_claim)])

    def get(self, issuer_url: object) -> TrustedIssuer | None:
        """The trusted issuer with this exact URL, or None."""
        return self._by_url.get(issuer_url) if isinstance(issuer_url, str) else None

    def speaking_for(self, tenant: str) -> TrustedIssuer | None:
        """The issuer bound to `tenant` (at most one: the file refuses a tenant claimed twice), or None; the
        one issuer of a deployment without a file speaks for every tenant."""
        return next(
            (issuer for issuer in self._by_url.values() if issuer.tenants is None or tenant in issuer.tenants), None
        )

    def __iter__(self) -> Any:
        return iter(self._by_url.values())

    def __len__(self) -> int:
        return len(self._by_url)

    @property
    def urls(self) -> list[str]:
        """Every issuer URL, in the order configured (RFC 9728 `authorization_servers`)."""
        return list(self._by_url)
