"""Authorization code with PKCE, scripted the way a browser and a public client (Claude, the Inspector) do it."""

from __future__ import annotations

import time

from tests.idp.flows import (
    REDIRECT_URI,
    Idp,
    answer_consent,
    authorization_code,
    authorize_params,
    error_of,
    exchange_code,
    log_in,
    pkce,
    redirect_params,
    register_client,
    verified,
)


async def test_full_flow_yields_a_token_with_exactly_the_right_claims(idp: Idp) -> None:
    client = await register_client(idp, name="Claude")
    verifier, challenge = pkce()
    answer = await authorization_code(
        idp, user="alice@acme", client_id=client["client_id"], challenge=challenge, state="s-42"
    )
    assert answer["state"] == "s-42"
    assert answer["iss"] == idp.settings.issuer  # RFC 9207
    assert set(answer) == {"code", "state", "iss"}

    started = int(time.time())
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=verifier,
        client_id=client["client_id"],
        resources=(idp.resource("inventory"),),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 600)
    assert body["scope"] == "inventory:read inventory:reorder"

    header, claims = await verified(idp, body["access_token"])
    (key,) = (await idp.http.get("/jwks.json")).json()["keys"]
    assert header == {"alg": "RS256", "kid": key["kid"], "typ": "at+jwt"}
    assert set(claims) == {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "client_id",
        "scope",
        "tenant_id",
        "roles",
        "grant_id",
    }
    assert claims["iss"] == idp.settings.issuer
    assert claims["sub"] == "alice@acme"
    assert claims["aud"] == "http://127.0.0.1:8101/mcp"
    assert claims["client_id"] == client["client_id"]
    assert claims["scope"] == "inventory:read inventory:reorder"
    assert claims["tenant_id"] == "acme"
    assert claims["roles"] == ["supply_chain_manager"]
    assert started <= claims["iat"] == claims["nbf"] <= started + 5
    assert claims["exp"] == claims["iat"] + 600
    assert len(claims["jti"]) >= 16


async def test_analyst_asking_for_reorder_gets_only_what_the_role_allows(idp: Idp) -> None:
    client = await register_client(idp)
    verifier, challenge = pkce()
    consent = await log_in(
        idp, authorize_params(client["client_id"], challenge, scope="inventory:read inventory:reorder"), "ana@acme"
    )
    assert "<code>inventory:read</code>" in consent.text
    assert "inventory:reorder" not in consent.text.split("<form")[0]  # not offered on the consent page
    answer = redirect_params(await answer_consent(idp, consent))
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=verifier,
        client_id=client["client_id"],
        resources=(idp.resource("inventory"),),
    )
    assert response.json()["scope"] == "inventory:read"
    _, claims = await verified(idp, response.json()["access_token"])
    assert claims["scope"] == "inventory:read"


async def test_scopes_are_narrowed_to_the_server_named_by_the_resource(idp: Idp) -> None:
    client = await register_client(idp)
    verifier, challenge = pkce()
    answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=verifier,
        client_id=client["client_id"],
        resources=(idp.resource("logistics"),),
    )
    _, claims = await verified(idp, response.json()["access_token"])
    assert claims["aud"] == "http://127.0.0.1:8102/mcp"
    assert claims["scope"] == "logistics:read logistics:reroute"


async def test_a_role_with_nothing_on_that_server_gets_invalid_scope(idp: Idp) -> None:
    client = await register_client(idp)
    verifier, challenge = pkce()
    answer = await authorization_code(idp, user="fred@acme", client_id=client["client_id"], challenge=challenge)
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=verifier,
        client_id=client["client_id"],
        resources=(idp.resource("inventory"),),
    )
    assert error_of(response) == "invalid_scope"


async def test_wrong_code_verifier_is_invalid_grant(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
    other_verifier, _ = pkce()
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=other_verifier,
        client_id=client["client_id"],
        resources=(idp.resource("inventory"),),
    )
    assert error_of(response) == "invalid_grant"


async def test_missing_code_verifier_is_refused(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
    response = await idp.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT_URI,
            "resource": idp.resource("inventory"),
        },
    )
    assert error_of(response) == "invalid_request"


async def test_a_code_works_once_and_its_replay_revokes_what_it_produced(idp: Idp) -> None:
    client = await register_client(idp)
    verifier, challenge = pkce()
    answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
    exchange = {"code": answer["code"], "verifier": verifier, "client_id": client["client_id"]}
    first = await exchange_code(idp, **exchange, resources=(idp.resource("inventory"),))
    assert first.status_code == 200
    again = await exchange_code(idp, **exchange, resources=(idp.resource("inventory"),))
    assert error_of(again) == "invalid_grant"

    _, claims = await verified(idp, first.json()["access_token"])
    assert claims["jti"] in (await idp.http.get("/revocations")).json()["revoked"]
    refreshed = await idp.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            "client_id": client["client_id"],
            "resource": idp.resource("inventory"),
        },
    )
    assert error_of(refreshed) == "invalid_grant"


async def test_a_code_older_than_60_seconds_is_refused(idp: Idp) -> None:
    client = await register_client(idp)
    verifier, challenge = pkce()
    answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
    stored = idp.state.codes[answer["code"]]
    assert 55 <= stored.expires_at - time.time() <= 60
    stored.expires_at = time.time() - 1
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=verifier,
        client_id=client["client_id"],
        resources=(idp.resource("inventory"),),
    )
    assert error_of(response) == "invalid_grant"


async def test_a_code_is_bound_to_its_client(idp: Idp) -> None:
    client, other = await register_client(idp), await register_client(idp)
    verifier, challenge = pkce()
    answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=verifier,
        client_id=other["client_id"],
        resources=(idp.resource("inventory"),),
    )
    assert error_of(response) == "invalid_grant"


async def test_token_request_with_another_redirect_uri_is_invalid_grant(idp: Idp) -> None:
    client = await register_client(idp, redirect_uris=[REDIRECT_URI, "http://127.0.0.1:33418/other"])
    verifier, challenge = pkce()
    answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=verifier,
        client_id=client["client_id"],
        resources=(idp.resource("inventory"),),
        redirect_uri="http://127.0.0.1:33418/other",
    )
    assert error_of(response) == "invalid_grant"


async def test_unregistered_redirect_uri_is_shown_an_error_never_redirected(idp: Idp) -> None:
    client = await register_client(idp)
    for uri in ("http://127.0.0.1:33418/callback/", "http://127.0.0.1:33418/callback?x=1", "https://evil.example/cb"):
        _, challenge = pkce()
        response = await idp.http.get(
            "/authorize", params=authorize_params(client["client_id"], challenge, redirect_uri=uri)
        )
        assert response.status_code == 400
        assert "location" not in response.headers
        assert "invalid_request" in response.text


async def test_unknown_client_is_shown_an_error_never_redirected(idp: Idp) -> None:
    _, challenge = pkce()
    response = await idp.http.get("/authorize", params=authorize_params("no-such-client", challenge))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_client" in response.text


async def test_plain_pkce_is_refused_with_a_redirect_carrying_state_and_iss(idp: Idp) -> None:
    client = await register_client(idp)
    verifier, _ = pkce()
    response = await idp.http.get("/authorize", params=authorize_params(client["client_id"], verifier, method="plain"))
    params = redirect_params(response)
    assert params["error"] == "invalid_request"
    assert params["state"] == "state-123"
    assert params["iss"] == idp.settings.issuer
    assert "code" not in params


async def test_pkce_without_method_or_without_challenge_is_refused(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    for params in (
        authorize_params(client["client_id"], challenge, method=None),
        authorize_params(client["client_id"], ""),
    ):
        assert redirect_params(await idp.http.get("/authorize", params=params))["error"] == "invalid_request"


async def test_token_request_must_name_exactly_one_known_resource(idp: Idp) -> None:
    client = await register_client(idp)
    inventory, payments = idp.resource("inventory"), idp.resource("payments")
    for resources in ((), (inventory, payments), ("http://127.0.0.1:8101/mcp/",), ("https://evil.example/mcp",)):
        verifier, challenge = pkce()
        answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
        response = await exchange_code(
            idp, code=answer["code"], verifier=verifier, client_id=client["client_id"], resources=resources
        )
        assert error_of(response) == "invalid_target", resources
        # The refused request did not spend the code: with one known resource it still works.
        retry = await exchange_code(
            idp, code=answer["code"], verifier=verifier, client_id=client["client_id"], resources=(inventory,)
        )
        assert retry.status_code == 200


async def test_unknown_resource_in_the_authorization_request_is_invalid_target(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    params = authorize_params(client["client_id"], challenge, resources=("https://evil.example/mcp",))
    answer = redirect_params(await idp.http.get("/authorize", params=params))
    assert (answer["error"], answer["iss"]) == ("invalid_target", idp.settings.issuer)


async def test_token_resource_must_be_one_the_user_consented_to(idp: Idp) -> None:
    client = await register_client(idp)
    verifier, challenge = pkce()
    answer = await authorization_code(
        idp,
        user="alice@acme",
        client_id=client["client_id"],
        challenge=challenge,
        resources=(idp.resource("inventory"),),
    )
    response = await exchange_code(
        idp,
        code=answer["code"],
        verifier=verifier,
        client_id=client["client_id"],
        resources=(idp.resource("logistics"),),
    )
    assert error_of(response) == "invalid_target"


async def test_denied_consent_redirects_access_denied(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    consent = await log_in(idp, authorize_params(client["client_id"], challenge), "alice@acme")
    answer = redirect_params(await answer_consent(idp, consent, decision="deny"))
    assert (answer["error"], answer["state"], answer["iss"]) == ("access_denied", "state-123", idp.settings.issuer)
    assert "code" not in answer


async def test_wrong_password_shows_the_login_page_again(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    response = await log_in(idp, authorize_params(client["client_id"], challenge), "alice@acme", password="guess")
    assert response.status_code == 401
    assert "Unknown user or wrong password." in response.text
    again = await idp.http.get("/authorize", params=authorize_params(client["client_id"], challenge))
    assert "Log in" in again.text and "Allow access?" not in again.text
