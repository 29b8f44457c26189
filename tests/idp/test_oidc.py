"""OpenID Connect at the protocol level: nonce, prompt=none, max_age errors, code binding, claims, and
why a sign-in token is good for nothing but signing in (checked with the servers' own token verifier).
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from securemcp.identity.keys import KeySet
from securemcp.identity.tokens import JWTVerifier

from deployment.policy import POLICY
from deployment.registry import SERVERS
from fixtures.tenants import USERS
from tests.idp.flows import (
    REDIRECT_URI,
    Idp,
    answer_consent,
    authorize_params,
    error_of,
    exchange_code,
    log_in,
    pkce,
    redirect_params,
    register_client,
    user_tokens,
    verified,
)


def oidc_params(client_id: str, challenge: str, scope: str = "openid", **extra: str) -> httpx2.QueryParams:
    """An authentication request (authorization request with `openid`) plus OIDC parameters."""
    return httpx2.QueryParams([*authorize_params(client_id, challenge, scope=scope).multi_items(), *extra.items()])


async def sign_in_code(idp: Idp, client_id: str, user: str = "alice@acme", **extra: str) -> tuple[str, str]:
    """(code, verifier) after `user` logs in and allows a sign-in for `client_id`."""
    verifier, challenge = pkce()
    consent = await log_in(idp, oidc_params(client_id, challenge, **extra), user)
    return redirect_params(await answer_consent(idp, consent))["code"], verifier


async def redeem(idp: Idp, client_id: str, code: str, verifier: str, **form: Any) -> httpx2.Response:
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI}
    return await idp.http.post("/token", data={"client_id": client_id, **data, **form})


async def test_the_nonce_is_echoed_and_a_replayed_nonce_is_refused(idp: Idp) -> None:
    client = await register_client(idp)
    code, verifier = await sign_in_code(idp, client["client_id"], nonce="n-0S6_WzA2Mj")
    body = (await redeem(idp, client["client_id"], code, verifier)).json()
    _, claims = await verified(idp, body["id_token"])
    assert claims["nonce"] == "n-0S6_WzA2Mj"

    _, challenge = pkce()
    again = await idp.http.get("/authorize", params=oidc_params(client["client_id"], challenge, nonce="n-0S6_WzA2Mj"))
    assert redirect_params(again)["error"] == "invalid_request"


async def test_prompt_none_without_a_session_is_login_required_and_with_one_consent_required(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    params = oidc_params(client["client_id"], challenge, prompt="none")
    answer = redirect_params(await idp.http.get("/authorize", params=params))
    assert answer == {"error": "login_required", "state": "state-123", "iss": idp.settings.issuer}

    await sign_in_code(idp, client["client_id"])  # now the browser has a live session
    answer = redirect_params(await idp.http.get("/authorize", params=params))
    assert answer["error"] == "consent_required" and "code" not in answer


@pytest.mark.parametrize("max_age", ["-1", "ten", "1e3", "1234567890", "٣"])
async def test_a_malformed_max_age_is_invalid_request(idp: Idp, max_age: str) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    response = await idp.http.get("/authorize", params=oidc_params(client["client_id"], challenge, max_age=max_age))
    answer = redirect_params(response)
    assert (answer["error"], answer["iss"]) == ("invalid_request", idp.settings.issuer)


async def test_another_client_cannot_redeem_a_sign_in_code(idp: Idp) -> None:
    pages = await register_client(idp, auth_method="client_secret_basic")
    other = await register_client(idp, auth_method="client_secret_basic")
    code, verifier = await sign_in_code(idp, pages["client_id"])
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI}
    stolen = await idp.http.post("/token", data=form, auth=(other["client_id"], other["client_secret"]))
    assert error_of(stolen) == "invalid_grant"
    guessed = await idp.http.post("/token", data=form, auth=(pages["client_id"], "not-the-secret"))
    assert (guessed.status_code, error_of(guessed)) == (401, "invalid_client")
    # Neither attempt spent the code: its own client still redeems it, once.
    own = await idp.http.post("/token", data=form, auth=(pages["client_id"], pages["client_secret"]))
    assert own.status_code == 200, own.text
    _, claims = await verified(idp, own.json()["id_token"])
    assert claims["aud"] == pages["client_id"]


@pytest.mark.parametrize("user", sorted(USERS))
async def test_every_fixture_user_gets_their_own_tenant_and_roles(idp: Idp, user: str) -> None:
    client = await register_client(idp)
    code, verifier = await sign_in_code(idp, client["client_id"], user=user)
    body = (await redeem(idp, client["client_id"], code, verifier)).json()
    _, claims = await verified(idp, body["id_token"])
    tenant, roles = USERS[user]
    assert (claims["sub"], claims["tenant_id"], claims["roles"]) == (user, tenant, sorted(roles))
    assert claims["aud"] == client["client_id"]
    info = await idp.http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.json() == {"sub": user, "tenant_id": tenant, "roles": sorted(roles)}


async def test_a_sign_in_gives_no_token_any_mcp_server_accepts(idp: Idp) -> None:
    client = await register_client(idp)
    code, verifier = await sign_in_code(idp, client["client_id"])
    body = (await redeem(idp, client["client_id"], code, verifier)).json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "id_token"}  # no refresh token
    _, claims = await verified(idp, body["access_token"])
    assert (claims["aud"], claims["scope"]) == (f"{idp.settings.issuer}/userinfo", "openid")

    control = (await user_tokens(idp, user="alice@acme", server="inventory"))["access_token"]
    keys = KeySet(f"{idp.settings.issuer}/jwks.json", idp.http)
    await keys.refresh()
    for server in SERVERS:
        mcp_server = JWTVerifier(
            policy=POLICY, issuer=idp.settings.issuer, resource_url=idp.resource(server), keys=keys, revocations=None
        )
        assert await mcp_server.verify_token(body["access_token"]) is None, server
        assert await mcp_server.verify_token(body["id_token"]) is None, server
        accepted = await mcp_server.verify_token(control)
        assert (accepted is not None) == (server == "inventory")  # the verifier does accept real tokens


async def test_a_sign_in_code_cannot_be_redeemed_for_an_mcp_resource(idp: Idp) -> None:
    client = await register_client(idp)
    code, verifier = await sign_in_code(idp, client["client_id"])
    response = await redeem(idp, client["client_id"], code, verifier, resource=idp.resource("inventory"))
    assert error_of(response) == "invalid_scope"
    assert not any(family.access_jtis for family in idp.state.families.values())  # nothing was issued
    # The refused request did not spend the code: redeemed as a sign-in, it still works.
    assert (await redeem(idp, client["client_id"], code, verifier)).status_code == 200


async def test_openid_with_a_resource_gets_that_servers_token_as_before_plus_an_id_token(idp: Idp) -> None:
    client = await register_client(idp)
    code, verifier = await sign_in_code(idp, client["client_id"], scope="openid inventory:read")
    response = await exchange_code(
        idp, code=code, verifier=verifier, client_id=client["client_id"], resources=(idp.resource("inventory"),)
    )
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token"}
    _, claims = await verified(idp, body["access_token"])
    assert (claims["aud"], claims["scope"]) == (idp.resource("inventory"), "inventory:read")
    _, id_claims = await verified(idp, body["id_token"])
    assert id_claims["aud"] == client["client_id"]


async def test_userinfo_refuses_anything_but_a_live_sign_in_token(idp: Idp) -> None:
    client = await register_client(idp)
    code, verifier = await sign_in_code(idp, client["client_id"])
    sign_in = (await redeem(idp, client["client_id"], code, verifier)).json()
    mcp_token = (await user_tokens(idp, user="alice@acme", server="inventory"))["access_token"]
    for authorization, expected in (
        (None, (401, "invalid_request")),
        ("Basic abc", (401, "invalid_request")),
        (f"Bearer {mcp_token}", (401, "invalid_token")),
        (f"Bearer {sign_in['id_token']}", (401, "invalid_token")),
        (f"Bearer {sign_in['access_token']}x", (401, "invalid_token")),
    ):
        headers = {"Authorization": authorization} if authorization else {}
        response = await idp.http.get("/userinfo", headers=headers)
        assert (response.status_code, response.json()["error"]) == expected, authorization
        assert response.headers["www-authenticate"] == f'Bearer error="{expected[1]}"'
    ok = await idp.http.get("/userinfo", headers={"Authorization": f"Bearer {sign_in['access_token']}"})
    assert ok.json()["sub"] == "alice@acme"
    revoked = await idp.http.post("/revoke", data={"token": sign_in["access_token"], "client_id": client["client_id"]})
    assert revoked.status_code == 200
    after = await idp.http.get("/userinfo", headers={"Authorization": f"Bearer {sign_in['access_token']}"})
    assert (after.status_code, after.json()["error"]) == (401, "invalid_token")
