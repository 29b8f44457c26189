"""The issuer's signing keys (`KeySet`): JWKS fetching, the refresh budget, and the periodic refresh.

`securemcp.identity.tokens.JWTVerifier` asks a `KeySet` for the key named by a token's `kid`; the rules that keep
that lookup fresh without letting a caller starve it are in `KeySet`'s docstring.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict

import anyio
import httpx2
import jwt

logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("RS256", "ES256")
MAX_REMEMBERED_UNKNOWN_KIDS = 1024
# The algorithm a JWK without `alg` (optional in RFC 7517) is pinned to, by its key type and curve.
ALGORITHM_OF_KEY_TYPE = {("RSA", None): "RS256", ("EC", "P-256"): "ES256"}


def pinned_algorithm(
    entry: dict[str, object], configured: frozenset[str] | None, discovered: frozenset[str] | None = None
) -> str | None:
    """The one algorithm a published JWK may verify with, or None to ignore the key.

    A key's own `alg` must be allowed (and configured, if the issuer's algorithms are configured). A key
    without one (RFC 7517 makes it optional) is pinned from its type and curve (RSA: RS256, EC P-256:
    ES256), and only if the issuer says it signs with that algorithm: its configured `algorithms`, else its
    discovery metadata's `id_token_signing_alg_values_supported`. Nothing maps to `none` or HMAC.
    """
    algorithm = entry.get("alg")
    if algorithm is None:
        curve = entry.get("crv") if entry.get("kty") == "EC" else None
        algorithm = ALGORITHM_OF_KEY_TYPE.get((str(entry.get("kty")), curve if isinstance(curve, str) else None))
        said = configured if configured is not None else discovered
        if algorithm is None or said is None or algorithm not in said:
            return None
    if algorithm not in ALLOWED_ALGORITHMS or (configured is not None and algorithm not in configured):
        return None
    return str(algorithm)


class IssuerUnavailable(RuntimeError):
    """The issuer's metadata, keys or revocation list could not be fetched."""


class KeySet:
    """The issuer's signing keys by `kid`, kept fresh two ways, neither of which a caller can starve.

    - `poll` re-reads the JWKS every `refresh_interval` seconds whatever requests arrive, so a
      rotated-in key is known, and a removed key forgotten, within that interval.
    - A token whose `kid` is unknown waits for the next fetch that starts after it arrived. Fetches for
      unknown kids start at most once per `min_refresh` seconds, and every request waiting meanwhile
      shares one: a flood of random kids costs the issuer one fetch per `min_refresh`, and a token
      signed by a newly published key is accepted on its first request, at most `min_refresh` later.
    - A `kid` that a successful fetch just showed unpublished is refused at once for `negative_ttl`
      seconds (a bounded memory), so repeating one junk kid does not even wait.
    """

    def __init__(
        self,
        jwks_url: str,
        client: httpx2.AsyncClient,
        *,
        min_refresh_seconds: float = 1.0,
        refresh_interval_seconds: float = 300.0,
        negative_ttl_seconds: float = 30.0,
        algorithms: frozenset[str] | None = None,
    ) -> None:
        self.url = jwks_url
        # What the issuer signs with: `algorithms` as configured, `discovered_algorithms` from its metadata
        # (set once discovered); a key without `alg` needs one of them (`pinned_algorithm`).
        self.algorithms = algorithms
        self.discovered_algorithms: frozenset[str] | None = None
        self._client = client
        self._min_refresh = min_refresh_seconds
        self.refresh_interval = refresh_interval_seconds
        self._negative_ttl = negative_ttl_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fingerprints: dict[str, str] = {}  # kid -> the JWK as published, to notice a replaced key
        # Fetches run one at a time (under the lock) and are numbered: `fetch_count` started so far, and
        # `last_good_fetch` the number of the latest that succeeded, so an observer can wait for "a fetch
        # started after X has succeeded" without timing anything.
        self.fetch_count = 0
        self.last_good_fetch = 0
        self._fetch_started_at = float("-inf")
        self._fetched_ok_at = float("-inf")  # when the last successful fetch started
        self._not_found: OrderedDict[str, float] = OrderedDict()  # kid -> when it was last missing
        self._lock = anyio.Lock()

    async def refresh(self) -> None:
        """Fetch the JWKS now; keys whose algorithm is not allowed are ignored (`pinned_algorithm`)."""
        async with self._lock:  # a request arriving meanwhile waits for these keys, not a fetch of its own
            await self._fetch()

    async def poll(self) -> None:
        """Re-read the JWKS every `refresh_interval` seconds, forever (a failed fetch keeps the keys)."""
        while True:
            await anyio.sleep(self.refresh_interval)
            try:
                await self.refresh()
            except IssuerUnavailable as exc:
                logger.warning("periodic key refresh failed: %s", exc)

    async def _fetch(self) -> None:
        self.fetch_count += 1
        number = self.fetch_count
        self._fetch_started_at = time.monotonic()
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            jwks = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise IssuerUnavailable(f"JWKS unreachable: {type(exc).__name__}") from None
        keys: dict[str, jwt.PyJWK] = {}
        fingerprints: dict[str, str] = {}
        for entry in jwks.get("keys", []):
            if not isinstance(entry, dict):
                continue
            algorithm = pinned_algorithm(entry, self.algorithms, self.discovered_algorithms)
            if algorithm is not None and entry.get("use", "sig") == "sig" and entry.get("kid"):
                try:
                    keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=algorithm)
                except jwt.PyJWTError:
                    logger.warning("ignoring unusable JWK kid=%r", entry.get("kid"))
                    continue
                fingerprints[entry["kid"]] = json.dumps(entry, sort_keys=True)
        self._keys, self._fingerprints = keys, fingerprints
        self._fetched_ok_at = self._fetch_started_at
        self.last_good_fetch = number

    def fingerprint(self, kid: str) -> str | None:
        """The published form of key `kid`, or None once it is no longer published."""
        return self._fingerprints.get(kid)

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The key with this `kid`, waiting (at most about `min_refresh` s) for a fetch if it is unknown."""
        key = self._keys.get(kid)
        if key is not None or not self.url:
            return key
        missing_since = self._not_found.get(kid)
        if missing_since is not None and time.monotonic() - missing_since < self._negative_ttl:
            return None
        arrived = time.monotonic()
        async with self._lock:
            if self._fetch_started_at < arrived and kid not in self._keys:  # no fetch since: start one
                await anyio.sleep(max(0.0, self._fetch_started_at + self._min_refresh - time.monotonic()))
                try:
                    await self._fetch()
                except IssuerUnavailable as exc:
                    logger.warning("key refresh failed: %s", exc)
        key = self._keys.get(kid)
        if key is None and self._fetched_ok_at >= arrived:  # truly unpublished, not an issuer outage
            self._not_found[kid] = time.monotonic()
            self._not_found.move_to_end(kid)
            if len(self._not_found) > MAX_REMEMBERED_UNKNOWN_KIDS:
                self._not_found.popitem(last=False)
        return key
