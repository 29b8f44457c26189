"""SECURITY.md's hostile-token list, against a running server: each one is a 401 with the challenge.

Every hostile token rides on a `create_reorder` call (a write); the database is compared before and
after, and a valid caller is served right after each refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization

from tests.helpers import snapshot
from tests.http.expect import assert_unauthorized
from tests.http.rpc import call_tool, result_of
from tests.http.stack import Idp, Stack
from tests.http.tokens import attacker_key, b64url, claims_of, header_of, mint, sign, unsigned, with_payload

REORDER = {"sku": "BOLT-M8", "warehouse": "RTM-2", "quantity": 5}


def now() -> int:
    return int(time.time())


def valid(idp: Idp) -> str:
    """alice@acme's token for inventory with every scope her role allows (read and reorder)."""
    return mint(idp, user="alice@acme", server="inventory")


def edited(idp: Idp, **changes: Any) -> str:
    """alice's claims with `changes` (a value of None drops the claim), signed with the IdP's real key."""
    claims = {**claims_of(valid(idp)), **changes}
    return sign(idp, {name: value for name, value in claims.items() if value is not None})


def hs256_with_public_key(idp: Idp) -> str:
    """The classic key-confusion forgery: HMAC-SHA256 keyed with the issuer's public key PEM."""
    public_pem = (
        idp.keys.signing_key()
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": idp.keys.signing_key().kid, "typ": "at+jwt"}).encode())
    payload = b64url(json.dumps(claims_of(valid(idp))).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def tampered(idp: Idp) -> str:
    """ana@acme (analyst, reading only) edits her own token to claim globex and the reorder scope."""
    token = mint(idp, user="ana@acme", server="inventory")
    claims = claims_of(token) | {"tenant_id": "globex", "scope": "inventory:read inventory:reorder"}
    return with_payload(token, claims)


HOSTILE: dict[str, Callable[[Idp], str | None]] = {
    "no_token": lambda idp: None,
    "garbage": lambda idp: "not-a-jwt",
    "wrong_key": lambda idp: sign(idp, claims_of(valid(idp)), key=attacker_key()),
    "tampered_payload": tampered,
    "alg_none": lambda idp: unsigned(claims_of(valid(idp)), header_of(valid(idp))["kid"]),
    "hs256_signed_with_the_public_key": hs256_with_public_key,
    "unknown_kid": lambda idp: sign(idp, claims_of(valid(idp)), kid="unknown-kid"),
    "expired": lambda idp: edited(idp, iat=now() - 900, nbf=now() - 900, exp=now() - 60),
    "no_exp": lambda idp: edited(idp, exp=None),
    "future_nbf_beyond_leeway": lambda idp: edited(idp, nbf=now() + 120),
    "no_iat": lambda idp: edited(idp, iat=None),
    "wrong_issuer": lambda idp: edited(idp, iss="https://evil.example"),
    "issuer_with_trailing_slash": lambda idp: edited(idp, iss=idp.issuer + "/"),
    # pyjwt 2.10.0 accepted any part of the expected issuer (CVE-2024-53861): the floor in pyproject.toml.
    "issuer_cut_short": lambda idp: edited(idp, iss=idp.issuer[:-2]),
    "issuer_scheme_only": lambda idp: edited(idp, iss="http"),
    "wrong_audience": lambda idp: edited(idp, aud="http://127.0.0.1:9/mcp"),
    "no_tenant_id": lambda idp: edited(idp, tenant_id=None),
    "malformed_tenant_id": lambda idp: edited(idp, tenant_id="acme' OR '1'='1"),
    "uppercase_tenant_id": lambda idp: edited(idp, tenant_id="ACME"),
    "no_sub": lambda idp: edited(idp, sub=None),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_hostile_token_is_refused_with_the_challenge_and_changes_nothing(
    kind: str, stack: Stack, admin_url: str
) -> None:
    inventory = stack["inventory"]
    token = HOSTILE[kind](stack.idp)
    before = await snapshot(admin_url, "inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, token, "create_reorder", REORDER)
        assert_unauthorized(response, inventory)
        # The server still serves everyone else.
        served = await call_tool(http, inventory.url, valid(stack.idp), "list_warehouses")
    assert await snapshot(admin_url, "inventory") == before
    assert result_of(served)["isError"] is False


async def test_token_for_inventory_is_refused_by_payments(stack: Stack, admin_url: str) -> None:
    payments = stack["payments"]
    # ana@acme (analyst) may read payments, but this token's audience is inventory.
    inventory_token = mint(stack.idp, user="ana@acme", server="inventory")
    payments_token = mint(stack.idp, user="ana@acme", server="payments")
    before = await snapshot(admin_url, "payments")
    async with httpx2.AsyncClient(timeout=10) as http:
        assert_unauthorized(await call_tool(http, payments.url, inventory_token, "list_payments"), payments)
        assert result_of(await call_tool(http, payments.url, payments_token, "list_payments"))["isError"] is False
    assert await snapshot(admin_url, "payments") == before


async def test_bearer_scheme_is_required(stack: Stack) -> None:
    inventory = stack["inventory"]
    async with httpx2.AsyncClient(timeout=10) as http:
        for authorization in (f"Basic {valid(stack.idp)}", valid(stack.idp), "Bearer"):
            response = await http.post(inventory.url, json={}, headers={"Authorization": authorization})
            assert_unauthorized(response, inventory)


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({"nbf": +10}, True),
        ({"nbf": +40}, False),
        ({"exp": +5}, True),
        ({"exp": -5}, False),
    ],
    ids=["valid_in_10s", "valid_in_40s", "expires_in_5s", "expired_5s_ago"],
)
async def test_clock_leeway_is_30_seconds_for_nbf_and_none_for_exp(
    changes: dict[str, int], accepted: bool, stack: Stack
) -> None:
    """`nbf` gets the verifier's 30 s leeway; `exp` is re-checked by the SDK's bearer backend with none."""
    inventory = stack["inventory"]
    token = edited(stack.idp, **{claim: now() + offset for claim, offset in changes.items()})
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, token, "list_warehouses")
    if accepted:
        assert result_of(response)["isError"] is False
    else:
        assert_unauthorized(response, inventory)
