"""globex's IdP on its own: what oidc-provider, configured as a company would, hands the servers.

These hold against the provider alone (no resource server): they pin the shapes the servers must accept
(a UUID subject, no `tenant_id`, `roles` and `groups` from the hooks, keys without `alg`) so a change of
the provider's configuration that made the servers' job easier would show here.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2
import jwt
import pytest

from tests.http.tokens import claims_of
from tests.identity_providers.conftest import GlobexIdp, scopes_of
from tests.identity_providers.flows import FlowFailed, access_token, id_token_response
from tests.identity_providers.provider import APPROVALS_CLIENT_ID, GLOBEX_PEOPLE, MCP_CLIENT_ID, OidcProvider

pytestmark = pytest.mark.slow

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def verified(token: str, jwks: dict[str, Any], *, audience: str, issuer: str) -> dict[str, Any]:
    """The token's claims, its signature checked with the published key its `kid` names (RS256 pinned
    here, since the key does not say)."""
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == kid]
    key = jwt.PyJWK(jwk, algorithm="RS256")
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer)
    return claims


def test_discovery_is_served_at_both_well_known_addresses(globex_idp: GlobexIdp) -> None:
    """OpenID discovery and RFC 8414 metadata, with the issuer, PKCE S256 and RFC 9207 `iss`."""
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        response = httpx2.get(f"{globex_idp.issuer}{path}", timeout=5)
        assert response.status_code == 200, path
        metadata = response.json()
        assert metadata["issuer"] == globex_idp.issuer
        assert metadata["jwks_uri"] == f"{globex_idp.issuer}/jwks"
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        assert metadata["authorization_response_iss_parameter_supported"] is True
        assert "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"]
        # An RSA key without `alg` serves both: what a verifier pins must come from configuration.
        assert metadata["id_token_signing_alg_values_supported"] == ["PS256", "RS256"]


def test_published_keys_carry_no_alg(globex_idp: GlobexIdp) -> None:
    """oidc-provider's default: RSA signing keys with `kid` and `use` but no `alg` (optional in RFC 7517)."""
    keys = globex_idp.provider.jwks()["keys"]
    assert len(keys) == 1
    (key,) = keys
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert "alg" not in key
    assert {"d", "p", "q"}.isdisjoint(key)  # public parts only


async def test_access_token_is_a_jwt_for_the_requested_resource_with_the_directory_claims(
    globex_idp: GlobexIdp,
) -> None:
    """RFC 9068: `typ` at+jwt, `aud` the requested server's URL, the person's UUID as `sub`, the granted
    scope, and `roles` and `groups` added by `extraTokenClaims`; no `tenant_id`."""
    bob = GLOBEX_PEOPLE["bob"]
    resource = globex_idp.resource("inventory")
    token = await access_token(globex_idp.provider, bob, resource=resource, scope="inventory:read inventory:reorder")

    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    claims = verified(token, globex_idp.provider.jwks(), audience=resource, issuer=globex_idp.issuer)
    assert claims["aud"] == resource
    assert claims["sub"] == bob.subject
    assert UUID.fullmatch(claims["sub"])
    assert claims["client_id"] == MCP_CLIENT_ID
    assert set(claims["scope"].split()) == {"inventory:read", "inventory:reorder"}
    assert claims["roles"] == ["supply_chain_manager"]
    assert claims["groups"] == ["GLOBEX-Supply-Chain", "GLOBEX-All-Staff"]
    assert "tenant_id" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= 600


async def test_each_token_names_only_the_server_it_was_asked_for(globex_idp: GlobexIdp) -> None:
    """A token asked for logistics is for logistics alone; a server the IdP does not know gets none."""
    gwen = GLOBEX_PEOPLE["gwen"]
    resource = globex_idp.resource("logistics")
    token = await access_token(globex_idp.provider, gwen, resource=resource, scope="logistics:read")
    claims = claims_of(token)
    assert claims["aud"] == resource
    assert claims["scope"] == "logistics:read"
    assert claims["roles"] == ["finance"]

    with pytest.raises(FlowFailed, match="invalid_target"):
        await access_token(globex_idp.provider, gwen, resource="http://127.0.0.1:1/mcp", scope="inventory:read")


async def test_scopes_are_limited_to_those_the_resource_server_defines(globex_idp: GlobexIdp) -> None:
    """Asking inventory's token for a payments scope gets a token without it (the entry lists inventory's)."""
    bob = GLOBEX_PEOPLE["bob"]
    resource = globex_idp.resource("inventory")
    token = await access_token(globex_idp.provider, bob, resource=resource, scope="inventory:read payments:release")
    claims = claims_of(token)
    assert claims["scope"] == "inventory:read"
    assert "payments:release" not in scopes_of("inventory")


async def test_the_misconfigured_directory_entry_claims_acme(globex_idp: GlobexIdp) -> None:
    """The hostile case the servers must refuse exists: mallory's globex token says `tenant_id` acme."""
    mallory = GLOBEX_PEOPLE["mallory"]
    token = await access_token(
        globex_idp.provider, mallory, resource=globex_idp.resource("inventory"), scope="inventory:read"
    )
    claims = claims_of(token)
    assert claims["iss"] == globex_idp.issuer
    assert claims["tenant_id"] == "acme"


async def test_id_token_of_a_plain_openid_sign_in_for_the_approval_pages(globex_idp: GlobexIdp) -> None:
    """The confidential client (client_secret_basic) gets an ID token naming the person by UUID, with
    `roles`, `groups`, `auth_time` and the nonce sent; no `tenant_id` (the issuer is globex's own)."""
    gwen = GLOBEX_PEOPLE["gwen"]
    provider = globex_idp.provider
    body = await id_token_response(provider, gwen, redirect_uri=globex_idp.approvals_callback("inventory"))
    claims = verified(body["id_token"], provider.jwks(), audience=APPROVALS_CLIENT_ID, issuer=provider.issuer)
    assert claims["sub"] == gwen.subject
    assert claims["nonce"] == body["sent_nonce"]
    assert claims["roles"] == ["finance"]
    assert claims["groups"] == ["GLOBEX-Finance", "GLOBEX-All-Staff"]
    assert isinstance(claims["auth_time"], int)
    assert "tenant_id" not in claims


async def test_the_approval_client_must_authenticate(globex_idp: GlobexIdp) -> None:
    """A wrong client secret gets no token (the code is then spent for nothing): client_secret_basic is
    enforced, so the pages' secret is what stands between a stolen code and an ID token."""
    provider = globex_idp.provider
    original = provider.approvals_client_secret
    provider.approvals_client_secret = "not-the-secret"
    try:
        with pytest.raises(FlowFailed, match=r"HTTP 401 .*invalid_client"):
            await id_token_response(
                provider, GLOBEX_PEOPLE["bob"], redirect_uri=globex_idp.approvals_callback("inventory")
            )
    finally:
        provider.approvals_client_secret = original


async def test_key_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(
    fresh_provider: OidcProvider,
) -> None:
    """Rotation as a company runs it (a new key first, the old one still published): new tokens name the
    new `kid`, and a token signed before the rotation still verifies against the published set."""
    resource = "http://127.0.0.1:9/mcp"
    bob = GLOBEX_PEOPLE["bob"]
    before = await access_token(fresh_provider, bob, resource=resource, scope="inventory:read")
    (old_key,) = fresh_provider.jwks()["keys"]

    fresh_provider.restart(rotate_keys=True)
    keys = fresh_provider.jwks()["keys"]
    assert [key["kid"] for key in keys][1:] == [old_key["kid"]]
    new_kid = keys[0]["kid"]
    assert new_kid != old_key["kid"]
    assert all("alg" not in key for key in keys)

    after = await access_token(fresh_provider, bob, resource=resource, scope="inventory:read")
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    for token in (before, after):
        assert verified(token, {"keys": keys}, audience=resource, issuer=fresh_provider.issuer)["sub"] == bob.subject


def test_a_restart_keeps_the_keys(fresh_provider: OidcProvider) -> None:
    """A restart without rotation publishes the same set: tokens outlive a provider restart."""
    before = fresh_provider.jwks()
    fresh_provider.restart()
    assert fresh_provider.jwks() == before
