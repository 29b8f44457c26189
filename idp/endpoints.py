"""Registration (RFC 7591), revocation (RFC 7009) and introspection (RFC 7662), on authlib's endpoints.

Dynamic registration is deprecated by the MCP specification (2026-07-28) in favour of Client ID
Metadata Documents (`idp.cimd`); it stays for clients that still use it.

Guarantees:
- registration is open (it grants nothing by itself: tokens still need a user's login and consent),
  for the authorization code flow only, with redirect URIs that are https, or http on a loopback
  address (RFC 8252 §7.3); anything else is `invalid_redirect_uri` / `invalid_client_metadata`;
- an access token is revoked only after its signature verifies with one of this issuer's keys; its
  `jti` then stays on the revocation list until it expires; revoking a refresh token revokes its family;
- introspection answers authenticated confidential clients, and only about tokens of their own tenant
  (any other token reads as `{"active": false}`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import jwt
from authlib.oauth2.rfc6749 import OAuth2Error, TokenMixin
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientMetadataClaims, ClientRegistrationEndpoint, InvalidRedirectURIError
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.clients import Client, acceptable_redirect_uri, hash_secret
from idp.store import RefreshToken
from idp.tokens import verify_access_token

CLIENT_GRANT_TYPES = {"authorization_code", "refresh_token"}
MAX_REDIRECT_URIS = 10
MAX_CLIENT_NAME = 100


class RegistrationFull(OAuth2Error):
    """The registrations file is full (open registration must not grow it without bound)."""

    error = "temporarily_unavailable"
    status_code = 503


class DynamicClientClaims(ClientMetadataClaims):
    """RFC 7591 metadata, restricted to what a dev authorization server should accept from anyone."""

    def validate_redirect_uris(self) -> None:
        uris = self.get("redirect_uris")
        if not isinstance(uris, list) or not 1 <= len(uris) <= MAX_REDIRECT_URIS:
            raise InvalidRedirectURIError(f"'redirect_uris' must list 1 to {MAX_REDIRECT_URIS} URIs.")
        if not all(acceptable_redirect_uri(uri) for uri in uris):
            raise InvalidRedirectURIError("Redirect URIs must be https, or http on a loopback address.")

    def validate_grant_types(self) -> None:
        grant_types = self.setdefault("grant_types", ["authorization_code"])
        if not isinstance(grant_types, list) or not set(grant_types) <= CLIENT_GRANT_TYPES:
            raise InvalidClientMetadataError(
                "Registered clients may use authorization_code and refresh_token only; "
                "service clients are made with `supplychain idp add-client`."
            )

    def validate_response_types(self) -> None:
        if self.setdefault("response_types", ["code"]) != ["code"]:
            raise InvalidClientMetadataError("The only response type is 'code'.")

    def validate_client_name(self) -> None:
        name = self.get("client_name")
        if name is not None and (not isinstance(name, str) or not 0 < len(name) <= MAX_CLIENT_NAME):
            raise InvalidClientMetadataError(f"'client_name' must be a string of 1 to {MAX_CLIENT_NAME} characters.")


class Registration(ClientRegistrationEndpoint):
    """Dynamic client registration: public or confidential authorization-code clients, kept across restarts."""

    def __init__(self, server: Any = None) -> None:
        super().__init__(server, claims_classes=[DynamicClientClaims])

    def authenticate_token(self, request: Any) -> bool:
        return True  # open registration (see the module docstring)

    def get_server_metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = self.server.metadata()
        return metadata

    def generate_client_info(self, request: Any) -> dict[str, Any]:
        info: dict[str, Any] = super().generate_client_info(request)
        if request.payload.data.get("token_endpoint_auth_method") == "none":
            # A public client gets no secret (RFC 7591 §3.2.1: the secret fields go with a secret).
            del info["client_secret"], info["client_secret_expires_at"]
        return info

    def save_client(self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any) -> Client:
        secret = client_info.get("client_secret")
        client = Client(
            client_id=client_info["client_id"],
            client_name=client_metadata.get("client_name") or client_info["client_id"],
            token_endpoint_auth_method=client_metadata["token_endpoint_auth_method"],
            grant_types=tuple(client_metadata["grant_types"]),
            redirect_uris=tuple(client_metadata["redirect_uris"]),
            secret_hash=hash_secret(secret) if secret else None,
            client_id_issued_at=client_info["client_id_issued_at"],
        )
        try:
            self.server.clients.add_dynamic(client)
        except OverflowError:
            raise RegistrationFull() from None
        return client


@dataclass
class AccessTokenRecord(TokenMixin):
    """An access token presented back to the issuer, after its signature verified."""

    claims: dict[str, Any]
    revoked: bool

    def check_client(self, client: Any) -> bool:
        return bool(self.claims.get("client_id") == client.client_id)

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def is_expired(self) -> bool:
        return bool(self.claims["exp"] <= time.time())

    def is_revoked(self) -> bool:
        return self.revoked


def find_token(server: Any, token: str, hint: str | None) -> AccessTokenRecord | RefreshToken | None:
    """The access or refresh token this string is, if this issuer made it (the hint only orders the search)."""

    def as_access() -> AccessTokenRecord | None:
        try:
            claims = verify_access_token(token, settings=server.settings, keys=server.keys)
        except jwt.PyJWTError:
            return None
        return AccessTokenRecord(claims=claims, revoked=server.state.is_revoked(claims["jti"]))

    def as_refresh() -> RefreshToken | None:
        found: RefreshToken | None = server.state.find_refresh_token(token)
        return found

    lookups = (as_refresh, as_access) if hint == "refresh_token" else (as_access, as_refresh)
    for lookup in lookups:
        found = lookup()
        if found is not None:
            return found
    return None


class Revocation(RevocationEndpoint):
    """RFC 7009, for public clients (by client_id) and confidential ones (with their secret)."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return find_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: Any, request: Any) -> None:
        if isinstance(token, RefreshToken):
            token.revoked = True
            self.server.state.revoke_family(token.family_id)
        else:
            self.server.state.revoke_access_token(token.claims["jti"], int(token.claims["exp"]))


class Introspection(IntrospectionEndpoint):
    """RFC 7662, for confidential clients, about tokens of their own tenant."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return find_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: Any, client: Any, request: Any) -> bool:
        if client.is_public or client.tenant_id is None:
            return False
        if isinstance(token, RefreshToken):
            return bool(token.client_id == client.client_id)
        return bool(token.claims.get("tenant_id") == client.tenant_id)

    def introspect_token(self, token: Any) -> dict[str, Any]:
        if isinstance(token, RefreshToken):
            return {"active": True, "scope": token.get_scope(), "client_id": token.client_id, "sub": token.user_id}
        return {"active": True, "token_type": "Bearer", **token.claims}
