"""Access tokens: which scopes a token gets, which claims it carries, how it is signed and checked.

Guarantees:
- a token is for exactly one server: `aud` is that server's canonical resource URL (RFC 8707);
- `grant_id` names what the token came from (an authorization and its refresh tokens, a client secret, a
  dev mint): revoking that grant revokes the token (`idp.revocations`);
- its scopes are the requested ones that the subject's roles allow (RBAC, `deployment.policy`) and that
  belong to that server (`<server>:...`, plus `audit:read`, which any server serves); no scope
  requested means everything the roles allow on that server; an empty result is refused;
- the claims are exactly `iss sub aud exp iat nbf jti client_id scope tenant_id roles grant_id`, signed RS256
  with the newest key, header `{"alg": "RS256", "kid": ..., "typ": "at+jwt"}` (RFC 9068).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from deployment.policy import ALL_SCOPES, scopes_for_roles
from deployment.registry import SERVERS
from fixtures.tenants import USERS
from idp.keys import ALGORITHM, KeyRing
from idp.revocations import RevocationStore
from idp.settings import IdpSettings

# Reading the audit trail is a capability every server offers (each keeps its own trail).
SERVER_WIDE_SCOPES = frozenset({"audit:read"})
CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "tenant_id", "roles", "grant_id")
DEV_CLI_CLIENT_ID = "supplychain-cli"
OPENID_SCOPE = "openid"
USERINFO_PATH = "/userinfo"


class NoGrantableScope(ValueError):
    """None of the requested scopes may be granted for that server."""


@dataclass(frozen=True)
class Subject:
    """Who a token speaks for: a user, or a service client acting for itself."""

    sub: str
    tenant_id: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class IssuedToken:
    """A signed access token and what the issuer must remember about it."""

    token: str
    jti: str
    expires_at: int
    scopes: tuple[str, ...]


def server_scopes(server: str) -> frozenset[str]:
    """The scopes a token for `server` may carry."""
    return frozenset(scope for scope in ALL_SCOPES if scope.startswith(f"{server}:")) | SERVER_WIDE_SCOPES


def grant_scopes(*, requested: Iterable[str] | None, roles: Iterable[str], server: str) -> tuple[str, ...]:
    """Requested ∩ what the roles allow ∩ what `server` serves (all of the latter two if none requested)."""
    allowed = scopes_for_roles(roles) & server_scopes(server)
    granted = allowed if requested is None else allowed & frozenset(requested)
    if not granted:
        raise NoGrantableScope(f"none of the requested scopes may be granted on {server}")
    return tuple(sorted(granted))


def parse_scope(scope: str | None) -> list[str] | None:
    """A space-separated scope parameter as a list; absent or blank means "not requested" (None)."""
    return scope.split() if scope and scope.strip() else None


def consentable_scopes(*, requested: Iterable[str] | None, roles: Iterable[str]) -> frozenset[str]:
    """What a consent may grant: the requested scopes the roles allow (all if none requested), and `openid`."""
    allowed = scopes_for_roles(roles)
    if requested is None:
        return allowed
    wanted = frozenset(requested)
    return (allowed | {OPENID_SCOPE}) & wanted


def offered_scopes(*, requested: Iterable[str] | None, roles: Iterable[str], servers: list[str]) -> frozenset[str]:
    """What a consent can lead to: `consentable_scopes`, narrowed to the named servers' scopes if any are named."""
    scopes = consentable_scopes(requested=requested, roles=roles)
    if not servers:
        return scopes
    on_servers = frozenset().union(*(server_scopes(server) for server in servers))
    return scopes & (on_servers | {OPENID_SCOPE})


def issue_access_token(
    *,
    settings: IdpSettings,
    keys: KeyRing,
    subject: Subject,
    client_id: str,
    server: str | None,
    scopes: tuple[str, ...],
    grant_id: str,
) -> IssuedToken:
    """Sign an access token for `subject`, valid on `server` only, carrying exactly `scopes`.

    `server=None` makes a sign-in (OIDC) token: its audience is this issuer's UserInfo endpoint,
    which no MCP server accepts.
    """
    now = int(time.time())
    jti = secrets.token_urlsafe(16)
    expires_at = now + settings.access_token_ttl_seconds
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": subject.sub,
        "aud": settings.resources[server] if server is not None else settings.url(USERINFO_PATH),
        "exp": expires_at,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "tenant_id": subject.tenant_id,
        "roles": list(subject.roles),
        "grant_id": grant_id,
    }
    key = keys.signing_key()
    token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "at+jwt"})
    return IssuedToken(token=token, jti=jti, expires_at=expires_at, scopes=scopes)


def verify_access_token(token: str, *, settings: IdpSettings, keys: KeyRing) -> dict[str, Any]:
    """The claims of an access token this issuer signed with a key it still publishes; else raises."""
    header = jwt.get_unverified_header(token)
    kid = header.get("kid")
    key = keys.key(kid) if isinstance(kid, str) else None
    if key is None or header.get("alg") != ALGORITHM or header.get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token of this issuer")
    claims: dict[str, Any] = jwt.decode(
        token,
        key.private_key.public_key(),
        algorithms=[ALGORITHM],
        issuer=settings.issuer,
        options={"verify_aud": False, "require": list(CLAIMS)},
    )
    return claims


def new_grant_id() -> str:
    """A fresh grant id (an authorization, or a dev mint)."""
    return "gr_" + secrets.token_urlsafe(12)


def client_grant_id(secret_hash: str) -> str:
    """The grant of a client-credentials client's tokens: its current secret, so rotating it starts a new grant."""
    return "gr_cc_" + hashlib.sha256(secret_hash.encode()).hexdigest()[:24]


def fixture_subject(user: str) -> Subject:
    """The subject of a fixture user (`alice@acme`); unknown users raise `ValueError`."""
    if user not in USERS:
        raise ValueError(f"unknown user {user!r}; fixture users: {', '.join(USERS)}")
    tenant, roles = USERS[user]
    return Subject(sub=user, tenant_id=tenant, roles=tuple(sorted(roles)))


def mint_access_token(*, user: str, server: str, scopes: list[str] | None, settings: IdpSettings | None = None) -> str:
    """DEV ONLY: sign a token for a fixture user with the on-disk key, by the same rules as the server.

    `settings` names the IdP the token is minted as (its issuer, and the server's resource URL as
    audience); by default the one `SUPPLYCHAIN_IDP_*` describes.
    """
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r}; servers: {', '.join(SERVERS)}")
    subject = fixture_subject(user)
    granted = grant_scopes(requested=scopes, roles=subject.roles, server=server)
    settings = settings or IdpSettings()
    grant_id = new_grant_id()  # a mint is a grant of its own: no refresh token, one access token
    issued = issue_access_token(
        settings=settings, keys=KeyRing(), subject=subject, client_id=DEV_CLI_CLIENT_ID, server=server,
        scopes=granted, grant_id=grant_id,
    )  # fmt: skip
    store = RevocationStore()  # recorded like the server's own tokens, so it can be revoked by client too
    try:
        store.record_issued(issued.jti, DEV_CLI_CLIENT_ID, issued.expires_at, grant_id=grant_id, subject=subject.sub)
    finally:
        store.close()
    return issued.token
