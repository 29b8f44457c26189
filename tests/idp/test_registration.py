"""Dynamic client registration (RFC 7591): what Claude Desktop and the MCP Inspector do first."""

from __future__ import annotations

import pytest

from tests.idp.flows import REDIRECT_URI, Idp, authorization_code, error_of, pkce, register_client, user_tokens


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:6274/oauth/callback",
        "http://localhost:6274/oauth/callback",
        "http://[::1]:6274/cb",
        "https://claude.ai/api/mcp/auth_callback",
    ],
)
async def test_loopback_http_and_https_redirect_uris_are_accepted(idp: Idp, uri: str) -> None:
    response = await idp.http.post(
        "/register", json={"client_name": "Inspector", "redirect_uris": [uri], "token_endpoint_auth_method": "none"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["redirect_uris"] == [uri]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["grant_types"] == ["authorization_code"]
    assert body["response_types"] == ["code"]
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    assert len(body["client_id"]) >= 32 and body["client_id_issued_at"] > 0


@pytest.mark.parametrize(
    "uris",
    [
        ["http://example.com/cb"],
        ["http://192.168.1.10/cb"],
        ["http://127.0.0.1.evil.example/cb"],
        ["https://ok.example/cb", "http://evil.example/cb"],
        ["https://ok.example/cb#fragment"],
        ["https://user:pass@ok.example/cb"],
        ["javascript:alert(1)"],
        ["myapp:/callback"],
        [],
        "https://ok.example/cb",
    ],
)
async def test_other_redirect_uris_are_refused(idp: Idp, uris: object) -> None:
    response = await idp.http.post(
        "/register", json={"client_name": "x", "redirect_uris": uris, "token_endpoint_auth_method": "none"}
    )
    assert error_of(response) == "invalid_redirect_uri"


async def test_client_credentials_cannot_be_registered_dynamically(idp: Idp) -> None:
    response = await idp.http.post(
        "/register",
        json={
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "none",
        },
    )
    assert error_of(response) == "invalid_client_metadata"


@pytest.mark.parametrize(
    "metadata",
    [
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"response_types": ["token"]},
        {"scope": "inventory:read root"},
        {"client_name": ""},
    ],
)
async def test_unsupported_metadata_is_refused(idp: Idp, metadata: dict[str, object]) -> None:
    response = await idp.http.post("/register", json={"redirect_uris": [REDIRECT_URI], **metadata})
    assert error_of(response) == "invalid_client_metadata"


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'"string"'])
async def test_a_body_that_is_not_a_json_object_is_refused(idp: Idp, body: bytes) -> None:
    response = await idp.http.post("/register", content=body, headers={"content-type": "application/json"})
    assert error_of(response) == "invalid_client_metadata"


async def test_a_confidential_client_gets_a_secret_and_must_use_it(idp: Idp) -> None:
    client = await register_client(idp, auth_method="client_secret_basic")
    assert client["client_secret_expires_at"] == 0 and len(client["client_secret"]) >= 32
    verifier, challenge = pkce()
    answer = await authorization_code(idp, user="alice@acme", client_id=client["client_id"], challenge=challenge)
    data = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "code_verifier": verifier,
        "redirect_uri": REDIRECT_URI,
        "resource": idp.resource("inventory"),
    }
    as_public = await idp.http.post("/token", data={**data, "client_id": client["client_id"]})
    assert error_of(as_public) == "invalid_client"
    wrong = await idp.http.post("/token", data=data, auth=(client["client_id"], "wrong"))
    assert (wrong.status_code, error_of(wrong)) == (401, "invalid_client")
    right = await idp.http.post("/token", data=data, auth=(client["client_id"], client["client_secret"]))
    assert right.status_code == 200, right.text


async def test_a_public_client_cannot_pretend_to_have_a_secret(idp: Idp) -> None:
    tokens = await user_tokens(idp, user="alice@acme", server="inventory")
    response = await idp.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "resource": idp.resource("inventory"),
        },
        auth=(tokens["client_id"], "anything"),
    )
    assert error_of(response) == "invalid_client"
