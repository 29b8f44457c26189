"""Rotating refresh tokens with reuse detection, revocation (RFC 7009) and the revocation list."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.idp.flows import Idp, error_of, user_tokens, verified


async def refresh(idp: Idp, tokens: dict[str, Any], refresh_token: str, **extra: str | list[str]) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": tokens["client_id"], **extra}
    return await idp.http.post("/token", data=data)


async def revoked_jtis(idp: Idp) -> list[str]:
    revoked: list[str] = (await idp.http.get("/revocations")).json()["revoked"]
    return revoked


async def test_refresh_rotates_the_refresh_token_and_honours_the_resource(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    response = await refresh(idp, tokens, tokens["refresh_token"], resource=idp.resource("logistics"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"] != tokens["refresh_token"]
    _, claims = await verified(idp, body["access_token"])
    assert (claims["aud"], claims["scope"], claims["sub"]) == (
        "http://127.0.0.1:8102/mcp",
        "logistics:read logistics:reroute",
        "alice@acme",
    )
    # The rotated token works once more, for yet another server, and may narrow the scopes.
    narrowed = await refresh(
        idp, tokens, body["refresh_token"], resource=idp.resource("inventory"), scope="inventory:read"
    )
    assert narrowed.json()["scope"] == "inventory:read"


async def test_refresh_cannot_widen_the_consented_scopes(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory", scope="inventory:read")
    response = await refresh(
        idp, tokens, tokens["refresh_token"], resource=idp.resource("inventory"), scope="inventory:reorder"
    )
    assert error_of(response) == "invalid_scope"


async def test_refresh_needs_exactly_one_known_resource(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    for resource in ([], [idp.resource("inventory"), idp.resource("logistics")], ["https://evil.example/mcp"]):
        assert error_of(await refresh(idp, tokens, tokens["refresh_token"], resource=resource)) == "invalid_target"
    # None of those spent the refresh token.
    assert (await refresh(idp, tokens, tokens["refresh_token"], resource=idp.resource("inventory"))).status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    second = (await refresh(idp, tokens, tokens["refresh_token"], resource=idp.resource("inventory"))).json()

    replay = await refresh(idp, tokens, tokens["refresh_token"], resource=idp.resource("inventory"))
    assert error_of(replay) == "invalid_grant"
    # The legitimate holder's newest refresh token is dead too, and so are the family's access tokens.
    assert error_of(await refresh(idp, tokens, second["refresh_token"], resource=idp.resource("inventory"))) == (
        "invalid_grant"
    )
    revoked = await revoked_jtis(idp)
    for access_token in (tokens["access_token"], second["access_token"]):
        assert (await verified(idp, access_token))[1]["jti"] in revoked


async def test_a_refresh_token_is_bound_to_its_client(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    other = await user_tokens(idp, user="alice@acme", server="inventory")
    response = await refresh(idp, other, tokens["refresh_token"], resource=idp.resource("inventory"))
    assert error_of(response) == "invalid_grant"


async def test_revoking_an_access_token_lists_its_jti_until_it_expires(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    _, claims = await verified(idp, tokens["access_token"])
    assert await revoked_jtis(idp) == []
    response = await idp.http.post(
        "/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token", "client_id": tokens["client_id"]},
    )
    assert (response.status_code, response.json()) == (200, {})
    assert await revoked_jtis(idp) == [claims["jti"]]
    # Once it would have expired anyway, it leaves the list.
    idp.state.revocations.revoke(claims["jti"], int(time.time()) - 1)
    assert await revoked_jtis(idp) == []


async def test_a_forged_token_is_not_revoked_and_the_answer_does_not_tell(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    _, claims = await verified(idp, tokens["access_token"])
    header = jwt.get_unverified_header(tokens["access_token"])
    forged = jwt.encode(
        {**claims, "jti": "forged-jti"},
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": header["kid"], "typ": "at+jwt"},
    )
    response = await idp.http.post("/revoke", data={"token": forged, "client_id": tokens["client_id"]})
    assert (response.status_code, response.json()) == (200, {})
    assert await revoked_jtis(idp) == []


async def test_a_client_cannot_revoke_another_clients_token(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    other = await user_tokens(idp, user="alice@acme", server="inventory")
    response = await idp.http.post("/revoke", data={"token": tokens["access_token"], "client_id": other["client_id"]})
    assert error_of(response) == "invalid_grant"
    assert await revoked_jtis(idp) == []


async def test_revoking_a_refresh_token_ends_its_family(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    response = await idp.http.post(
        "/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": tokens["client_id"]},
    )
    assert response.status_code == 200
    assert error_of(await refresh(idp, tokens, tokens["refresh_token"], resource=idp.resource("inventory"))) == (
        "invalid_grant"
    )
    assert (await verified(idp, tokens["access_token"]))[1]["jti"] in await revoked_jtis(idp)
