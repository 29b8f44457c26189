"""Bearer token verification: what makes a JWT acceptable to a resource server, in one place.

A token is accepted only if every check below passes; any failure means "no token" (HTTP 401):

0. It is in the JWS compact serialisation (three unpadded base64url parts, at most 8 KiB), so one
   token has one spelling (and one cache entry).
1. It names (unverified) a trusted issuer (`securemcp.identity.issuers.TrustedIssuers`), whose keys alone
   verify it. The header names an algorithm from the allow-list (RS256, ES256) and a `kid` that is in
   that issuer's JWKS, and the key itself is pinned to that same algorithm (its `alg`, or, for a key
   published without one, its type and the issuer's stated algorithms: `securemcp.identity.keys.pinned_algorithm`),
   so `alg: none` and HS256-signed-with-the-public-key are refused. Each issuer's JWKS is re-read
   periodically, and an unknown `kid` waits for a shared, rate-limited refresh of that issuer's keys
   (`securemcp.identity.keys.KeySet`), so junk `kid`s can neither hammer an issuer nor delay the pickup
   of a rotated key, and one issuer's outage leaves the others' tokens alone.
2. The signature verifies; `iss` equals that issuer exactly; `aud` contains its audience (by default this
   server's canonical resource URL, RFC 8707); `exp`, `iat` and `sub` are present; `exp` and `nbf` hold
   with at most 30 s of clock leeway (the SDK's bearer backend then re-checks `exp` with none, so in
   effect only `nbf` gets the leeway).
3. The identity it describes, read through its issuer's claim mapping, is well-formed
   (`securemcp.identity.principal.identity_from_claims`): its tenant is the one its issuer decides (a
   `tenant_id` claim naming another is refused, and left in `TENANT_REFUSAL` for the HTTP gate's audit
   record), it names its person by the mapped claim, and its scopes are re-checked against the RBAC
   policy: a scope the user's roles may not hold is dropped.
4. Its `jti` is not on its issuer's revocation list, nor its `grant_id` (if it carries one) among the
   revoked grants the list also publishes, and that list is fresh (polled every second;
   if it could not be fetched for longer than the staleness bound, every token is refused).

Verified tokens are cached by a hash of the token until they expire, so the hot path does no
cryptography and no network I/O; the revocation check (step 4) still runs on every request, and a
cached token is used only while the key that verified it is still published unchanged: a key removed
from the JWKS (retired or compromised) stops its tokens at the next key refresh.

Every refusal is logged with the check that failed, rate-limited (`securemcp.identity.refused_tokens`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier

from securemcp.identity.issuers import TenantMismatch, TrustedIssuer, TrustedIssuers
from securemcp.identity.keys import ALLOWED_ALGORITHMS, IssuerUnavailable, KeySet
from securemcp.identity.principal import Identity, IdentityError, identity_from_claims, person_id
from securemcp.identity.refused_tokens import UNLISTED, RefusedTokenLog
from securemcp.identity.verified import VerifiedToken
from securemcp.policy import RolePolicy

# `KeySet` and its error moved to `securemcp.identity.keys`; importing them from here keeps working.
__all__ = [
    "ALLOWED_ALGORITHMS",
    "COMPACT_JWS",
    "MAX_LEEWAY_SECONDS",
    "MAX_TOKEN_CHARS",
    "REQUIRED_CLAIMS",
    "TENANT_REFUSAL",
    "IssuerEndpoints",
    "IssuerState",
    "IssuerUnavailable",
    "JWTVerifier",
    "KeySet",
    "RevocationList",
    "TenantRefusal",
    "VerifiedToken",
    "discover",
]

logger = logging.getLogger(__name__)

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]  # the tenant: see `TrustedIssuer.tenant_of`
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_TOKEN_CHARS = 8192  # far above any token the issuer mints; the HTTP layer caps headers anyway
MAX_LEEWAY_SECONDS = 30


@dataclass
class IssuerEndpoints:
    """Where the issuer publishes its keys and revocations (from RFC 8414 metadata or configuration)."""

    jwks_url: str
    revocation_list_url: str | None
    # `id_token_signing_alg_values_supported`: what a JWK published without `alg` may be pinned to.
    signing_algorithms: frozenset[str] | None = None


async def discover(issuer: str, client: httpx2.AsyncClient) -> IssuerEndpoints:
    """Read the issuer's RFC 8414 metadata (falling back to OpenID discovery, which also gives the signing
    algorithms when the first document does not)."""
    found: IssuerEndpoints | None = None
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        try:
            response = await client.get(issuer.rstrip("/") + path)
        except httpx2.HTTPError as exc:
            if found is not None:
                return found
            raise IssuerUnavailable(f"issuer metadata unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            continue
        try:
            metadata = response.json()
        except ValueError:
            continue
        # Anything but an object with a `jwks_uri` is this issuer's outage, never an error that stops the others.
        if not isinstance(metadata, dict) or not isinstance(metadata.get("jwks_uri"), str):
            raise IssuerUnavailable("issuer metadata is not an object naming its jwks_uri")
        if metadata.get("issuer") != issuer:
            raise IssuerUnavailable(f"metadata names issuer {metadata.get('issuer')!r}, expected {issuer!r}")
        listed = metadata.get("id_token_signing_alg_values_supported")
        algorithms = frozenset(a for a in listed if isinstance(a, str)) if isinstance(listed, list) else None
        if found is None:
            found = IssuerEndpoints(metadata["jwks_uri"], metadata.get("supplychain_revocation_list_uri"), algorithms)
        elif found.signing_algorithms is None:
            found.signing_algorithms = algorithms
        if found.signing_algorithms is not None:
            return found
    if found is not None:
        return found
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
class IssuerState:
    """One trusted issuer as the verifier uses it: its configuration, its keys, its revocations, its audience."""

    trusted: TrustedIssuer
    keys: KeySet
    revocations: RevocationList | None
    audience: str  # the `aud` its tokens must carry: its configured audience, else the server's resource URL


@dataclass(frozen=True, slots=True)
class TenantRefusal:
    """A token refused for naming a tenant its issuer may not speak for: recorded in the bound tenant's chain."""

    identity: Identity  # the bound tenant, the token's user; no roles, no scopes
    token: AccessToken
    reason: str


# Set by `JWTVerifier` when it refuses a token for a tenant mismatch, read by the HTTP gate for the audit
# record: the verifier sees no request, the gate sees no claims of a refused token.
TENANT_REFUSAL: ContextVar[TenantRefusal | None] = ContextVar("tenant_refusal", default=None)


@dataclass(frozen=True, slots=True)
class _Verified:
    """A verified token as cached: valid only while the key that verified it is still published unchanged."""

    token: VerifiedToken
    issuer: IssuerState
    kid: str
    key_fingerprint: str


# PyJWT's errors by the check they report, most specific first (subclasses before their bases).
_CHECK_OF_ERROR: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.InvalidSignatureError, "signature", "the signature does not verify"),
    (jwt.ExpiredSignatureError, "expiry", "expired"),
    (jwt.ImmatureSignatureError, "expiry", "not yet valid (nbf or iat in the future)"),
    (jwt.InvalidAudienceError, "audience", "not issued for this server's audience"),
    (jwt.InvalidIssuerError, "issuer", "iss is not the issuer whose key verified it"),
    (jwt.MissingRequiredClaimError, "claim", "a required claim is missing"),
    (jwt.InvalidIssuedAtError, "claim", "malformed iat"),
    (jwt.DecodeError, "format", "undecodable"),
)


class JWTVerifier(TokenVerifier):
    """The MCP SDK's `TokenVerifier` for our tokens (see the module docstring for every check).

    Give it `issuers` (one `IssuerState` per trusted issuer), or, as before, one `issuer` with its `keys`
    and `revocations`: that issuer then speaks for any tenant named in its `tenant_id` claim.
    """

    def __init__(
        self,
        *,
        resource_url: str,
        policy: RolePolicy,
        issuer: str | None = None,
        keys: KeySet | None = None,
        revocations: RevocationList | None = None,
        issuers: Sequence[IssuerState] | None = None,
        leeway_seconds: int = MAX_LEEWAY_SECONDS,
        read_only_mode: bool = False,
        cache_size: int = 10_000,
        person_claim: str = "sub",
        refusal_log: RefusedTokenLog | None = None,
    ) -> None:
        if not 0 <= leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"clock leeway must be 0..{MAX_LEEWAY_SECONDS} s, got {leeway_seconds}")
        if issuers is None:
            if issuer is None or keys is None:
                raise ValueError("give `issuers`, or one `issuer` with its `keys`")
            trusted = next(iter(TrustedIssuers.single(issuer, person_claim=person_claim)))
            issuers = [IssuerState(trusted=trusted, keys=keys, revocations=revocations, audience=resource_url)]
        self._by_url = {state.trusted.issuer: state for state in issuers}
        if not self._by_url:
            raise ValueError("no trusted issuer")
        # With one issuer, a token is verified against it straight away: jwt.decode checks `iss` anyway.
        self._only = issuers[0] if len(self._by_url) == 1 else None
        first = issuers[0]
        self.issuer, self.keys, self.revocations = first.trusted.issuer, first.keys, first.revocations
        self.resource_url = resource_url
        self.leeway = leeway_seconds
        self.read_only_mode = read_only_mode
        self.policy = policy
        self.refusal_log = refusal_log or RefusedTokenLog()
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        self._cache_size = cache_size

    @property
    def issuers(self) -> list[IssuerState]:
        """Every trusted issuer, in the order configured."""
        return list(self._by_url.values())

    async def verify_token(self, token: str) -> AccessToken | None:
        """The verified token, or None when any check fails (the failed check is logged, rate-limited)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        entry = self._cache.get(digest)
        if entry is not None and entry.issuer.keys.fingerprint(entry.kid) != entry.key_fingerprint:
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
            self._refused("expiry", entry.issuer.trusted.issuer, "expired")
            return None
        revocations = entry.issuer.revocations
        if revocations is not None:
            claims = cached.claims or {}
            if not revocations.check(claims.get("jti"), claims.get("grant_id")):
                why = "on the revocation list" if revocations.fresh else "the revocation list is stale (fail closed)"
                self._refused("revoked", entry.issuer.trusted.issuer, why)
                return None
        return cached

    def _refused(self, check: str, issuer: str, detail: str) -> None:
        self.refusal_log.refused(check, issuer, detail)

    def _issuer_of(self, token: str) -> IssuerState | str:
        """The trusted issuer the token names (unverified: its keys verify it next), or why there is none."""
        if self._only is not None:
            return self._only
        try:
            payload = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, RecursionError):  # a deeply nested payload is a malformed token, not a crash
            return "format"
        named = payload.get("iss") if isinstance(payload, dict) else None
        state = self._by_url.get(named) if isinstance(named, str) else None
        return state if state is not None else f"unlisted issuer {str(named)[:100]!r}"

    async def _verify(self, token: str) -> _Verified | None:
        # RFC 7515 compact serialisation only: three unpadded base64url parts. PyJWT also accepts
        # padding, which would give one token many spellings (found by tests/fuzz/test_token_mutations.py).
        if len(token) > MAX_TOKEN_CHARS or COMPACT_JWS.fullmatch(token) is None:
            self._refused("format", UNLISTED, "not a compact JWS of at most 8 KiB")
            return None
        state = self._issuer_of(token)
        if isinstance(state, str):
            self._refused("format" if state == "format" else "issuer", UNLISTED, state)
            return None
        issuer = state.trusted.issuer
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            self._refused("format", issuer, "undecodable header")
            return None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALLOWED_ALGORITHMS:
            allowed = ", ".join(ALLOWED_ALGORITHMS)
            self._refused("algorithm", issuer, f"alg {str(algorithm)[:20]!r} is not one of {allowed}")
            return None
        if not isinstance(kid, str):
            self._refused("unknown key", issuer, "the header names no kid")
            return None
        key = await state.keys.key_for(kid)
        fingerprint = state.keys.fingerprint(kid)
        if key is None or fingerprint is None:
            self._refused("unknown key", issuer, f"kid {kid[:64]!r} is not in the issuer's JWKS")
            return None
        if key.algorithm_name != algorithm:
            self._refused("algorithm", issuer, f"kid {kid[:64]!r} is pinned to {key.algorithm_name}, not {algorithm}")
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=state.audience,
                issuer=issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_iat": True},
            )
        except jwt.PyJWTError as error:
            check, detail = next(((c, d) for kind, c, d in _CHECK_OF_ERROR if isinstance(error, kind)), ("format", ""))
            self._refused(check, issuer, detail or type(error).__name__)
            return None
        try:
            identity = identity_from_claims(
                claims, self.policy, read_only_mode=self.read_only_mode, issuer=state.trusted
            )
        except TenantMismatch as mismatch:
            self._refused("tenant mismatch", issuer, str(mismatch))
            self._note_tenant_refusal(token, claims, state, mismatch)
            return None
        except IdentityError as error:
            self._refused("claim", issuer, str(error))
            return None
        access = VerifiedToken(
            token=token,
            client_id=identity.client_id,
            scopes=sorted(identity.scopes),
            expires_at=int(claims["exp"]),
            resource=self.resource_url,
            # The SDK binds legacy sessions to the subject: include the tenant so the binding does.
            subject=f"{identity.tenant_id}/{identity.user_id}",
            claims=claims,
            identity=identity,
        )
        return _Verified(token=access, issuer=state, kid=kid, key_fingerprint=fingerprint)

    def _note_tenant_refusal(
        self, token: str, claims: dict[str, Any], state: IssuerState, mismatch: TenantMismatch
    ) -> None:
        """Leave the refusal for the HTTP gate to record in the bound tenant's chain (if there is one)."""
        if mismatch.bound is None:
            return
        try:
            who = Identity(tenant_id=mismatch.bound, user_id=str(claims.get("sub", "")), roles=frozenset(),
                           scopes=frozenset(), client_id=str(claims.get("client_id") or claims.get("azp") or "unknown"),
                           person_id=person_id(claims, state.trusted.claims.person))  # fmt: skip
        except IdentityError:
            return  # no user to name: logged above, not recorded
        refused = AccessToken(token=token, client_id=who.client_id, scopes=[], claims=claims)
        TENANT_REFUSAL.set(TenantRefusal(identity=who, token=refused, reason=str(mismatch)))

    def _remember(self, digest: str, token: _Verified) -> None:
        self._cache[digest] = token
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
