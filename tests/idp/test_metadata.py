"""RFC 8414 metadata, the JWKS and the revocation list: what clients and resource servers read first."""

from __future__ import annotations

import time

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from deployment.policy import ALL_SCOPES
from tests.idp.flows import Idp


async def test_metadata_names_every_endpoint_and_capability(idp: Idp) -> None:
    issuer = idp.settings.issuer
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        response = await idp.http.get(path)
        assert response.status_code == 200
        assert response.json() == {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "registration_endpoint": f"{issuer}/register",
            "revocation_endpoint": f"{issuer}/revoke",
            "introspection_endpoint": f"{issuer}/introspect",
            "jwks_uri": f"{issuer}/jwks.json",
            "supplychain_revocation_list_uri": f"{issuer}/revocations",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": sorted({*ALL_SCOPES, "openid"}),
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": True,
            "userinfo_endpoint": f"{issuer}/userinfo",
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["aud", "auth_time", "exp", "iat", "iss", "nonce", "roles", "sub", "tenant_id"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }


async def test_metadata_passes_authlibs_rfc8414_validation(idp: Idp) -> None:
    AuthorizationServerMetadata((await idp.http.get("/.well-known/oauth-authorization-server")).json()).validate()


async def test_discovery_passes_authlibs_openid_provider_validation(idp: Idp) -> None:
    OpenIDProviderMetadata((await idp.http.get("/.well-known/openid-configuration")).json()).validate()


async def test_issuer_follows_the_port_it_serves_on(idp: Idp) -> None:
    assert idp.settings.issuer == f"http://127.0.0.1:{idp.settings.port}"


async def test_jwks_publishes_one_rs256_signing_key_without_private_parts(idp: Idp) -> None:
    response = await idp.http.get("/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert len(key["kid"]) > 10


async def test_revocation_list_starts_empty_and_is_not_cached(idp: Idp) -> None:
    response = await idp.http.get("/revocations")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["revoked"] == []
    assert abs(body["generated_at"] - time.time()) < 5
    assert set(body) == {"revoked", "revoked_grants", "generated_at"}
