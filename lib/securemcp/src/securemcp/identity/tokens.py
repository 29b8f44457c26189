"""Bearer token verification: what makes a JWT acceptable to a resource server, in one place.

A token is accepted only if every check below passes; any failure means "no token" (HTTP 401):

0. It is in the JWS compact serialisation (three unpadded base64url parts, at most 8 KiB), so one
   token has one spelling (and one cache entry).
1. The header names an algorithm from the allow-list (RS256, ES256) and a `kid` that is in the
   issuer's JWKS, and the key itself is published for that same algorithm (the algorithm is tied to
   the key, so `alg: none` and HS256-signed-with-the-public-key are refused). The JWKS is re-read
   periodically, and an unknown `kid` waits for a shared, rate-limited refresh (`securemcp.identity.keys.KeySet`),
   so junk `kid`s can neither hammer the issuer nor delay the pickup of a rotated key.
2. The signature verifies; `iss` equals the configured issuer exactly; `aud` contains this server's
   canonical resource URL (RFC 8707); `exp`, `iat`, `sub` and `tenant_id` are present; `exp` and
   `nbf` hold with at most 30 s of clock leeway (the SDK's bearer backend then re-checks `exp` with
   none, so in effect only `nbf` gets the leeway).
3. The identity it describes is well-formed (`securemcp.identity.principal.identity_from_claims`), it names its
   person by the configured claim (`securemcp.identity.person`), and its scopes are re-checked against the RBAC
   policy: a scope the user's roles may not hold is dropped.
4. Its `jti` is not on the issuer's revocation list, nor its `grant_id` (if it carries one) among the
   revoked grants the list also publishes, and that list is fresh (polled every second;
   if it could not be fetched for longer than the staleness bound, every token is refused).

Verified tokens are cached by a hash of the token until they expire, so the hot path does no
cryptography and no network I/O; the revocation check (step 4) still runs on every request, and a
cached token is used only while the key that verified it is still published unchanged: a key removed
from the JWKS (retired or compromised) stops its tokens at the next key refresh.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier

from securemcp.identity.keys import ALLOWED_ALGORITHMS, IssuerUnavailable, KeySet
from securemcp.identity.principal import IdentityError, identity_from_claims
from securemcp.policy import RolePolicy

# `KeySet` and its error moved to `securemcp.identity.keys`; importing them from here keeps working.
__all__ = [
    "ALLOWED_ALGORITHMS",
    "COMPACT_JWS",
    "MAX_LEEWAY_SECONDS",
    "MAX_TOKEN_CHARS",
    "REQUIRED_CLAIMS",
    "IssuerEndpoints",
    "IssuerUnavailable",
    "JWTVerifier",
    "KeySet",
    "RevocationList",
    "discover",
]

logger = logging.getLogger(__name__)

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "tenant_id"]
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_TOKEN_CHARS = 8192  # far above any token the issuer mints; the HTTP layer caps headers anyway
MAX_LEEWAY_SECONDS = 30


@dataclass
class IssuerEndpoints:
    """Where the issuer publishes its keys and revocations (from RFC 8414 metadata or configuration)."""

    jwks_url: str
    revocation_list_url: str | None


async def discover(issuer: str, client: httpx2.AsyncClient) -> IssuerEndpoints:
    """Read the issuer's RFC 8414 metadata (falling back to OpenID discovery)."""
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        try:
            response = await client.get(issuer.rstrip("/") + path)
        except httpx2.HTTPError as exc:
            raise IssuerUnavailable(f"issuer metadata unreachable: {type(exc).__name__}") from None
        if response.status_code == 200:
            metadata = response.json()
            if metadata.get("issuer") != issuer:
                raise IssuerUnavailable(f"metadata names issuer {metadata.get('issuer')!r}, expected {issuer!r}")
            return IssuerEndpoints(metadata["jwks_uri"], metadata.get("supplychain_revocation_list_uri"))
    raise IssuerUnavailable("issuer publishes no authorization server metadata")


class RevocationList:
    """Revoked token ids and grant ids from the issuer, with the time of the last successful fetch.

    A grant is what a token came from (an authorization with its refresh tokens, a client secret): the
    issuer's optional `revoked_grants` list lets a server refuse a whole grant's tokens, and void an
    approval its requester asked for with one of them, without asking the issuer per call.

    `poll` runs for the life of the server. `check` refuses everything once the list is older than
    `max_staleness` seconds: not knowing about revocations is treated like a revocation (fail closed).
    """

    def __init__(self, url: str, client: httpx2.AsyncClient, *, max_staleness_seconds: float = 5.0) -> None:
        self.url = url
        self._client = client
        self.max_staleness = max_staleness_seconds
        self._revoked: frozenset[str] = frozenset()
        self._revoked_grants: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")

    async def fetch(self) -> None:
        """Fetch the list once; on failure keep the old list (and its age)."""
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            body = response.json()
            revoked, grants = body["revoked"], body.get("revoked_grants", [])
        except (httpx2.HTTPError, ValueError, KeyError, AttributeError) as exc:
            logger.warning("revocation list unavailable: %s", type(exc).__name__)
            return
        self._revoked = frozenset(str(jti) for jti in revoked)
        self._revoked_grants = frozenset(str(grant) for grant in grants)
        self._fetched_at = time.monotonic()

    async def poll(self, interval_seconds: float = 1.0) -> None:
        """Fetch the list every `interval_seconds`, forever."""
        while True:
            await self.fetch()
            await anyio.sleep(interval_seconds)

    @property
    def fresh(self) -> bool:
        """True when the list was fetched within the staleness bound."""
        return time.monotonic() - self._fetched_at <= self.max_staleness

    def check(self, jti: str | None, grant_id: str | None = None) -> bool:
        """True when a token with this `jti` (from grant `grant_id`, if it names one) may be used now."""
        if not self.fresh:
            return False
        return jti is not None and jti not in self._revoked and grant_id not in self._revoked_grants

    def revoked(self, *, token_id: str | None, grant_id: str | None) -> bool:
        """True when this token or its grant is on the list (the caller checks `fresh` first)."""
        return (token_id is not None and token_id in self._revoked) or (
            grant_id is not None and grant_id in self._revoked_grants
        )


@dataclass(frozen=True, slots=True)
class _Verified:
    """A verified token as cached: valid only while the key that verified it is still published unchanged."""

    token: AccessToken
    kid: str
    key_fingerprint: str


class JWTVerifier(TokenVerifier):
    """The MCP SDK's `TokenVerifier` for our tokens (see the module docstring for every check)."""

    def __init__(
        self,
        *,
        issuer: str,
        resource_url: str,
        keys: KeySet,
        revocations: RevocationList | None,
        policy: RolePolicy,
        leeway_seconds: int = MAX_LEEWAY_SECONDS,
        read_only_mode: bool = False,
        cache_size: int = 10_000,
        person_claim: str = "sub",
    ) -> None:
        if not 0 <= leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"clock leeway must be 0..{MAX_LEEWAY_SECONDS} s, got {leeway_seconds}")
        self.issuer = issuer
        self.resource_url = resource_url
        self.keys = keys
        self.revocations = revocations
        self.leeway = leeway_seconds
        self.read_only_mode = read_only_mode
        self.policy = policy
        self.person_claim = person_claim
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        self._cache_size = cache_size

    async def verify_token(self, token: str) -> AccessToken | None:
        """The verified token, or None when any check fails."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        entry = self._cache.get(digest)
        if entry is not None and self.keys.fingerprint(entry.kid) != entry.key_fingerprint:
            # Its key was removed from (or replaced in) the issuer's JWKS since: verify afresh, which fails.
            self._cache.pop(digest, None)
            entry = None
        if entry is None:
            entry = await self._verify(token)
            if entry is None:
                return None
            self._remember(digest, entry)
        cached = entry.token
        if cached.expires_at is not None and cached.expires_at + self.leeway < time.time():
            self._cache.pop(digest, None)
            return None
        claims = cached.claims or {}
        if self.revocations is not None and not self.revocations.check(claims.get("jti"), claims.get("grant_id")):
            return None
        return cached

    async def _verify(self, token: str) -> _Verified | None:
        # RFC 7515 compact serialisation only: three unpadded base64url parts. PyJWT also accepts
        # padding, which would give one token many spellings (found by tests/fuzz/test_token_mutations.py).
        if len(token) > MAX_TOKEN_CHARS or COMPACT_JWS.fullmatch(token) is None:
            return None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALLOWED_ALGORITHMS or not isinstance(kid, str):
            return None
        key = await self.keys.key_for(kid)
        fingerprint = self.keys.fingerprint(kid)
        if key is None or fingerprint is None or key.algorithm_name != algorithm:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.resource_url,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_iat": True},
            )
            identity = identity_from_claims(
                claims, self.policy, read_only_mode=self.read_only_mode, person_claim=self.person_claim
            )
        except (jwt.PyJWTError, IdentityError):
            return None
        access = AccessToken(
            token=token,
            client_id=identity.client_id,
            scopes=sorted(identity.scopes),
            expires_at=int(claims["exp"]),
            resource=self.resource_url,
            # The SDK binds legacy sessions to the subject: include the tenant so the binding does.
            subject=f"{identity.tenant_id}/{identity.user_id}",
            claims=claims,
        )
        return _Verified(token=access, kid=kid, key_fingerprint=fingerprint)

    def _remember(self, digest: str, token: _Verified) -> None:
        self._cache[digest] = token
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
