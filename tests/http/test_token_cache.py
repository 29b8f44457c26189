"""The verified-token cache (`securemcp.identity.tokens.JWTVerifier`): fast, and never a way around a check.

A verifier here is the one the servers use, fed by the real dev IdP of this folder's stack: its JWKS
and its revocation list over loopback. The cache is keyed by the SHA-256 of the token; a cached
token is still refused once it expires, once its `jti` is on the revocation list, and as soon as the
list is staler than the bound (fail closed), exactly as an uncached one would be.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import jwt
import pytest
from securemcp.identity.keys import KeySet
from securemcp.identity.tokens import JWTVerifier, RevocationList, discover

from deployment.policy import POLICY
from tests.http.stack import Stack
from tests.http.tokens import claims_of, flow_token, mint, sign, with_payload


@pytest.fixture
async def verifier(stack: Stack) -> AsyncIterator[JWTVerifier]:
    """A verifier for the stack's inventory server, with fresh keys and a fresh revocation list."""
    async with httpx2.AsyncClient(timeout=5) as http:
        endpoints = await discover(stack.idp.issuer, http)
        assert endpoints.revocation_list_url is not None
        keys = KeySet(endpoints.jwks_url, http)
        await keys.refresh()
        revocations = RevocationList(endpoints.revocation_list_url, http, max_staleness_seconds=5.0)
        await revocations.fetch()
        yield JWTVerifier(
            policy=POLICY,
            issuer=stack.idp.issuer,
            resource_url=stack["inventory"].url,
            keys=keys,
            revocations=revocations,
        )


class CountingDecode:
    """Calls the real `jwt.decode` and counts the calls (how often the signature is really checked)."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = jwt.decode

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.real(*args, **kwargs)


async def test_a_verified_token_is_served_from_the_cache(
    stack: Stack, verifier: JWTVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    decode = CountingDecode()
    monkeypatch.setattr("securemcp.identity.tokens.jwt.decode", decode)
    token = mint(stack.idp, user="alice@acme", server="inventory")
    first = await verifier.verify_token(token)
    second = await verifier.verify_token(token)
    assert first is not None and second is first
    assert decode.calls == 1
    assert hashlib.sha256(token.encode()).hexdigest() in verifier._cache  # keyed by a hash, never the token


async def test_a_tampered_copy_of_a_cached_token_is_verified_and_refused(stack: Stack, verifier: JWTVerifier) -> None:
    token = mint(stack.idp, user="alice@acme", server="inventory")
    assert await verifier.verify_token(token) is not None
    forged = with_payload(token, {**claims_of(token), "tenant_id": "globex"})
    assert await verifier.verify_token(forged) is None
    assert await verifier.verify_token(token) is not None


async def test_a_cached_token_is_refused_once_revoked(stack: Stack, verifier: JWTVerifier) -> None:
    assert verifier.revocations is not None
    tokens = await flow_token(stack.idp, user="alice@acme", server="inventory", scope="inventory:read")
    token = tokens["access_token"]
    assert await verifier.verify_token(token) is not None
    async with httpx2.AsyncClient(timeout=10) as http:
        revoked = await http.post(
            f"{stack.idp.issuer}/revoke",
            data={"token": token, "token_type_hint": "access_token", "client_id": tokens["client_id"]},
        )
    assert revoked.status_code == 200
    await verifier.revocations.fetch()  # what the server's once-a-second poll does
    assert await verifier.verify_token(token) is None


async def test_a_cached_token_is_refused_when_the_revocation_list_goes_stale(
    stack: Stack, verifier: JWTVerifier
) -> None:
    assert verifier.revocations is not None
    token = mint(stack.idp, user="alice@acme", server="inventory")
    assert await verifier.verify_token(token) is not None
    verifier.revocations.max_staleness = 0.2  # the list was fetched once, and never again
    await anyio.sleep(0.3)
    assert await verifier.verify_token(token) is None


async def test_a_cached_token_is_refused_once_it_expires(stack: Stack, verifier: JWTVerifier) -> None:
    verifier.leeway = 0
    expires = int(time.time()) + 2  # at least a second left for the first check
    token = sign(stack.idp, {**claims_of(mint(stack.idp, user="alice@acme", server="inventory")), "exp": expires})
    assert await verifier.verify_token(token) is not None
    await anyio.sleep(expires - time.time() + 0.2)
    assert await verifier.verify_token(token) is None
    assert hashlib.sha256(token.encode()).hexdigest() not in verifier._cache


async def test_the_cache_is_bounded(stack: Stack, verifier: JWTVerifier) -> None:
    verifier._cache_size = 2
    tokens = [mint(stack.idp, user="alice@acme", server="inventory") for _ in range(3)]
    for token in tokens:
        assert await verifier.verify_token(token) is not None
    assert len(verifier._cache) == 2
    assert hashlib.sha256(tokens[0].encode()).hexdigest() not in verifier._cache
