"""Service agents: confidential clients bound to a tenant and roles, and introspection for them."""

from __future__ import annotations

import json
import time

from idp.clients import add_service_client, clients_file
from idp.tokens import client_grant_id
from tests.idp.flows import Idp, error_of, register_client, user_tokens, verified


async def service_token(idp: Idp, auth: tuple[str, str], **data: str) -> dict[str, object]:
    response = await idp.http.post("/token", data={"grant_type": "client_credentials", **data}, auth=auth)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_service_client_token_speaks_for_the_client_in_its_tenant(idp: Idp) -> None:
    client, secret = add_service_client(name="Reorder bot", tenant="acme", roles=["analyst"])  # while the IdP runs
    started = int(time.time())
    body = await service_token(idp, (client.client_id, secret), resource=idp.resource("inventory"))
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh token
    _, claims = await verified(idp, str(body["access_token"]))
    assert claims == {
        "iss": idp.settings.issuer,
        "sub": client.client_id,
        "aud": "http://127.0.0.1:8101/mcp",
        "exp": claims["iat"] + 600,
        "iat": claims["iat"],
        "nbf": claims["iat"],
        "jti": claims["jti"],
        "client_id": client.client_id,
        "scope": "inventory:read",
        "tenant_id": "acme",
        "roles": ["analyst"],
        "grant_id": client_grant_id(client.secret_hash or ""),
    }
    assert started <= claims["iat"] <= started + 5
    assert client.client_id.startswith("reorder-bot-") and client.client_id.endswith("@acme")


async def test_service_client_cannot_exceed_its_roles(idp: Idp) -> None:
    client, secret = add_service_client(name="bot", tenant="acme", roles=["analyst"])
    narrowed = await service_token(
        idp, (client.client_id, secret), resource=idp.resource("inventory"), scope="inventory:read inventory:reorder"
    )
    assert narrowed["scope"] == "inventory:read"
    response = await idp.http.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": idp.resource("inventory"), "scope": "inventory:reorder"},
        auth=(client.client_id, secret),
    )
    assert error_of(response) == "invalid_scope"


async def test_client_secret_post_works_and_a_wrong_secret_does_not(idp: Idp) -> None:
    client, secret = add_service_client(name="bot", tenant="globex", roles=["finance"])
    data = {"grant_type": "client_credentials", "resource": idp.resource("payments"), "client_id": client.client_id}
    posted = await idp.http.post("/token", data={**data, "client_secret": secret})
    assert posted.status_code == 200 and posted.json()["scope"] == "payments:read payments:refund payments:release"
    wrong = await idp.http.post("/token", data={**data, "client_secret": secret + "x"})
    assert error_of(wrong) == "invalid_client"
    basic_wrong = await idp.http.post("/token", data=data, auth=(client.client_id, "x"))
    assert (basic_wrong.status_code, error_of(basic_wrong)) == (401, "invalid_client")


async def test_client_credentials_need_exactly_one_known_resource(idp: Idp) -> None:
    client, secret = add_service_client(name="bot", tenant="acme", roles=["analyst"])
    for resource in ([], [idp.resource("inventory"), idp.resource("returns")], ["http://127.0.0.1:9999/mcp"]):
        response = await idp.http.post(
            "/token", data={"grant_type": "client_credentials", "resource": resource}, auth=(client.client_id, secret)
        )
        assert error_of(response) == "invalid_target", resource


async def test_public_clients_cannot_use_client_credentials(idp: Idp) -> None:
    client = await register_client(idp)
    response = await idp.http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "resource": idp.resource("inventory"),
        },
    )
    assert error_of(response) == "invalid_client"


async def test_the_clients_file_keeps_only_a_hash_of_the_secret(idp: Idp) -> None:
    _, secret = add_service_client(name="bot", tenant="acme", roles=["analyst", "auditor"])
    stored = clients_file().read_text()
    assert secret not in stored
    (entry,) = json.loads(stored)["clients"]
    assert entry["secret_hash"].startswith("sha256:")
    assert (entry["tenant_id"], entry["roles"]) == ("acme", ["analyst", "auditor"])
    assert clients_file().stat().st_mode & 0o777 == 0o600


async def test_introspection_answers_a_service_client_about_its_own_tenant_only(idp: Idp) -> None:
    acme_bot, acme_secret = add_service_client(name="acme bot", tenant="acme", roles=["auditor"])
    globex_bot, globex_secret = add_service_client(name="globex bot", tenant="globex", roles=["finance"])
    alice = await user_tokens(idp, user="alice@acme", server="inventory")
    _, claims = await verified(idp, alice["access_token"])

    mine = await idp.http.post(
        "/introspect", data={"token": alice["access_token"]}, auth=(acme_bot.client_id, acme_secret)
    )
    assert mine.status_code == 200
    assert mine.json() == {"active": True, "token_type": "Bearer", **claims}
    theirs = await idp.http.post(
        "/introspect", data={"token": alice["access_token"]}, auth=(globex_bot.client_id, globex_secret)
    )
    assert theirs.json() == {"active": False}
    garbage = await idp.http.post("/introspect", data={"token": "garbage"}, auth=(acme_bot.client_id, acme_secret))
    assert garbage.json() == {"active": False}

    await idp.http.post("/revoke", data={"token": alice["access_token"], "client_id": alice["client_id"]})
    revoked = await idp.http.post(
        "/introspect", data={"token": alice["access_token"]}, auth=(acme_bot.client_id, acme_secret)
    )
    assert revoked.json() == {"active": False}


async def test_introspection_refuses_public_and_unauthenticated_clients(idp: Idp) -> None:
    alice = await user_tokens(idp, user="alice@acme", server="inventory")
    public = await idp.http.post("/introspect", data={"token": alice["access_token"], "client_id": alice["client_id"]})
    assert error_of(public) == "invalid_client"
    anonymous = await idp.http.post("/introspect", data={"token": alice["access_token"]})
    assert (anonymous.status_code, error_of(anonymous)) == (401, "invalid_client")
