"""The signing keys of the enterprise IdPs whose ID-JAGs this server accepts (`idp.id_jag`).

authlib's grant runs synchronously and asks for an issuer's keys in the middle of its checks, so the
token endpoint fetches them first (`prepare`), the way it loads client metadata documents. What it
reads of the assertion to do so (`iss`, `kid`) is only which key set to load: authlib verifies the
assertion afterwards with those keys, and an issuer that is not configured is never fetched from.

Guarantees: a key set comes only from the configured `jwks_url` (or inline `jwks`) of that issuer;
it is fetched again after `REFRESH_SECONDS`, or when an assertion names a `kid` it lacks, but not
more than once per `REFETCH_SECONDS` (an unknown `kid` costs the IdP nothing); a failed fetch keeps
the keys it had, and a body over `MAX_JWKS_BYTES` or not a JWKS counts as failed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx2
import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.settings import EnterpriseIdp, is_signing_key

REFRESH_SECONDS = 300
REFETCH_SECONDS = 10
FETCH_TIMEOUT_SECONDS = 5
MAX_JWKS_BYTES = 64 * 1024

log = logging.getLogger(__name__)


@dataclass
class _Fetched:
    keys: KeySet | None
    fetched_at: float


class EnterpriseKeys:
    """Key sets of the configured enterprise IdPs, by issuer."""

    def __init__(self, idps: list[EnterpriseIdp]) -> None:
        self._idps = {idp.issuer: idp for idp in idps}
        self._fetched: dict[str, _Fetched] = {}
        for idp in idps:
            if idp.jwks:  # inline keys never go stale (checked when the settings were read)
                self._fetched[idp.issuer] = _Fetched(KeySet.import_key_set(idp.jwks), float("inf"))  # type: ignore[arg-type]

    def key_set(self, issuer: str) -> KeySet | None:
        """The keys of `issuer` as last fetched (None if it is not configured or was never reachable)."""
        fetched = self._fetched.get(issuer)
        return fetched.keys if fetched is not None else None

    async def prepare(self, assertion: str | None) -> None:
        """Fetch the keys of the assertion's issuer if it is configured and they are stale or lack its `kid`."""
        try:
            issuer = jwt.decode(str(assertion), options={"verify_signature": False}).get("iss")
            kid = jwt.get_unverified_header(str(assertion)).get("kid")
        except jwt.PyJWTError:
            return  # authlib refuses it with its own error
        idp = self._idps.get(issuer) if isinstance(issuer, str) else None
        if idp is None or idp.jwks_url is None:
            return
        fetched = self._fetched.get(idp.issuer)
        now = time.monotonic()
        if fetched is not None:
            fresh = now - fetched.fetched_at < REFRESH_SECONDS and _has_kid(fetched.keys, kid)
            if fresh or now - fetched.fetched_at < REFETCH_SECONDS:
                return
        keys = await _fetch(idp.jwks_url)
        previous = fetched.keys if fetched is not None else None
        self._fetched[idp.issuer] = _Fetched(keys or previous, now)


def _has_kid(keys: KeySet | None, kid: object) -> bool:
    if keys is None:
        return False
    return not isinstance(kid, str) or any(key.kid == kid for key in keys.keys)


async def _fetch(url: str) -> KeySet | None:
    try:
        async with httpx2.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as http:
            response = await http.get(url)
        if response.status_code != 200 or len(response.content) > MAX_JWKS_BYTES:
            raise ValueError(f"status {response.status_code}, {len(response.content)} bytes")
        body = response.json()
        # Only asymmetric keys for the allowed algorithms: an "oct" key would let HS256 assertions verify
        # (authlib's grant does not name the algorithms it accepts).
        return KeySet.import_key_set({"keys": [key for key in body["keys"] if is_signing_key(key)]})
    except (httpx2.HTTPError, ValueError, JoseError, TypeError, KeyError) as exc:
        log.warning("enterprise JWKS %s could not be fetched: %s", url, type(exc).__name__)
        return None
