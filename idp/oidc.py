"""OpenID Connect on the dev authorization server: ID tokens, fresh logins, UserInfo, discovery.

authlib provides the ID token extension of the code grant (`OpenIDCode`: nonce replay check,
`prompt=none` → `login_required`, signing) and this module configures it. What it adds:
- an ID token is issued when the *authorization* included `openid` (authlib looks at the token's
  scope, which for an MCP resource holds only that server's scopes);
- ID token claims: `iss sub aud exp iat auth_time [nonce] at_hash tenant_id roles`, `aud` being the
  client id, `auth_time` the second the person typed their password (kept in the login session);
- `prompt=login` and `max_age` (which authlib leaves to the server) ask for the password again: once
  per authorization request, remembered by a digest of that request's parameters;
- a sign-in without `resource` gets an access token for the UserInfo endpoint only (its `aud` is
  `<issuer>/userinfo`, which no MCP server accepts), and no refresh token.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import jwt
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

from idp.keys import ALGORITHM
from idp.sessions import Session
from idp.tokens import OPENID_SCOPE, USERINFO_PATH, fixture_subject, verify_access_token

MAX_NONCE_CHARS = 255
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "tenant_id", "roles")


def request_digest(params: list[tuple[str, str]]) -> str:
    """One authorization request's fingerprint: the same for its GET, its login and its consent POST."""
    canonical = "&".join(f"{len(name)}:{name}={len(value)}:{value}" for name, value in sorted(params))
    return hashlib.sha256(canonical.encode()).hexdigest()


def max_age_of(params: dict[str, str]) -> int | None:
    """The request's `max_age` in seconds; a value that is not a small whole number is `invalid_request`."""
    raw = params.get("max_age")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidRequestError("'max_age' must be a whole number of seconds.")
    return int(raw)


def needs_password(session: Session, params: list[tuple[str, str]]) -> bool:
    """True when this request must show the login form: no user, `prompt=login`, or a login older than `max_age`."""
    if session.user_id is None or session.auth_time is None:
        return True
    if session.logged_in_for == request_digest(params):
        return False  # the password was typed for this very request
    data = dict(params)
    if "login" in data.get("prompt", "").split():
        return True
    max_age = max_age_of(data)
    return max_age is not None and time.time() - session.auth_time > max_age


class IdTokens(OpenIDCode):
    """authlib's OIDC extension of the code grant, signing with this issuer's key ring."""

    def __init__(self, server: Any) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def resolve_client_private_key(self, client: Any) -> RSAKey:
        return RSAKey.import_key(self.server.keys.signing_key().private_key)

    def get_client_algorithm(self, client: Any) -> str:
        return ALGORITHM

    def get_encode_header(self, client: Any) -> dict[str, str]:
        return {"alg": ALGORITHM, "kid": self.server.keys.signing_key().kid, "typ": "JWT"}

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        settings, now = self.server.settings, int(time.time())
        lifetime = settings.access_token_ttl_seconds
        return {"iss": settings.issuer, "aud": client.client_id, "iat": now, "exp": now + lifetime}

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        if len(nonce) > MAX_NONCE_CHARS:
            raise InvalidRequestError(f"'nonce' is longer than {MAX_NONCE_CHARS} characters.")
        return bool(self.server.state.nonce_used(request.payload.client_id, nonce))

    def generate_user_info(self, user: Any, scope: str) -> dict[str, Any]:
        return {"sub": user.sub, "tenant_id": user.tenant_id, "roles": list(user.roles)}

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        if OPENID_SCOPE in grant.request.authorization_code.scopes:
            token["id_token"] = self.encode_id_token(token, grant.request)
        return token


class UserInfoRefused(Exception):
    """The bearer token may not read UserInfo; `error` is the RFC 6750 error code."""

    def __init__(self, error: str, status: int) -> None:
        super().__init__(error)
        self.error, self.status = error, status


def userinfo(server: Any, authorization: str | None) -> dict[str, Any]:
    """The signed-in person's claims for a sign-in access token in `Authorization: Bearer`."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UserInfoRefused("invalid_request", 401)
    try:
        claims = verify_access_token(token.strip(), settings=server.settings, keys=server.keys)
    except jwt.PyJWTError:
        raise UserInfoRefused("invalid_token", 401) from None
    if claims["aud"] != server.settings.url(USERINFO_PATH) or server.state.is_revoked(claims["jti"]):
        raise UserInfoRefused("invalid_token", 401)
    if OPENID_SCOPE not in str(claims["scope"]).split():
        raise UserInfoRefused("insufficient_scope", 403)
    try:
        subject = fixture_subject(claims["sub"])
    except ValueError:  # not a person: sign-in tokens are only ever issued to fixture users
        raise UserInfoRefused("invalid_token", 401) from None
    return {"sub": subject.sub, "tenant_id": subject.tenant_id, "roles": list(subject.roles)}


def discovery_metadata(url: Any) -> dict[str, Any]:
    """What OpenID Connect Discovery 1.0 adds to the RFC 8414 metadata."""
    return {
        "userinfo_endpoint": url(USERINFO_PATH),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "claims_supported": sorted(c for c in ID_TOKEN_CLAIMS if c != "at_hash"),
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
