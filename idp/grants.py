"""The three grants the dev authorization server offers, as authlib grant subclasses.

What authlib does: client authentication, the authorization request and token request checks of
RFC 6749, PKCE verification (RFC 7636). What this module adds:
- PKCE is mandatory and S256 only (`plain` and a missing challenge are refused);
- resource indicators (RFC 8707, not built into authlib): every token request names exactly one
  known `resource`, which becomes the token's `aud`, and must be one the authorization named, if it
  named any; anything else is `invalid_target`;
- scopes are narrowed by the RBAC policy and by the target server (`idp.tokens.grant_scopes`);
- access tokens are JWTs (`idp.tokens`); refresh tokens rotate within a family (`idp.store`);
- OpenID Connect (`idp.oidc`): a code whose authorization included `openid` may be redeemed without
  `resource`, for an ID token and a sign-in access token that no MCP server accepts (no refresh token).
"""

from __future__ import annotations

from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.oidc import max_age_of
from idp.store import AuthorizationCode, RefreshToken
from idp.tokens import (
    OPENID_SCOPE,
    NoGrantableScope,
    Subject,
    client_grant_id,
    consentable_scopes,
    fixture_subject,
    grant_scopes,
    issue_access_token,
    new_grant_id,
    parse_scope,
)

PUBLIC_OR_CONFIDENTIAL = ("client_secret_basic", "client_secret_post", "none")


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, missing, unknown, or malformed."""

    error = "invalid_target"
    status_code = 400


def resolve_target(server: Any, resources: list[str], *, allowed: tuple[str, ...] = ()) -> str:
    """The one server a token request is for; `allowed` (if not empty) limits it to what was authorized."""
    if not resources:
        raise InvalidTargetError("Missing 'resource': name the one server this token is for (RFC 8707).")
    if len(resources) > 1:
        raise InvalidTargetError("One 'resource' per token request: each token is for exactly one server.")
    target = server.settings.server_for_resource(resources[0])
    if target is None:
        raise InvalidTargetError("Unknown 'resource': not one of this issuer's servers.")
    if allowed and resources[0] not in allowed:
        raise InvalidTargetError("The 'resource' was not part of the authorization request.")
    return str(target)


class S256CodeChallenge(CodeChallenge):
    """PKCE, required on every authorization request, with S256 as the only method."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (S256) is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': only S256 is accepted.")
        super().validate_code_challenge(grant, redirect_uri)


class ResourceBoundGrant:
    """Shared by the grants: bind the request to one server, then issue a JWT for it."""

    request: Any
    server: Any

    def bind_target(self, *, subject: Subject, requested: list[str] | None, allowed: tuple[str, ...] = ()) -> None:
        target = resolve_target(self.server, self.request.payload.datalist.get("resource", []), allowed=allowed)
        try:
            scopes = grant_scopes(requested=requested, roles=subject.roles, server=target)
        except NoGrantableScope:
            raise InvalidScopeError("None of the requested scopes may be granted for this resource.") from None
        self.request.subject, self.request.target, self.request.granted = subject, target, scopes

    def bind_sign_in(self, subject: Subject) -> None:
        """OIDC without a resource: a token for the UserInfo endpoint only, never for an MCP server."""
        self.request.subject, self.request.target, self.request.granted = subject, None, (OPENID_SCOPE,)

    def refresh_family(self) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
        """(family id, consented scopes, consented resources) when a refresh token goes with the token."""
        return None

    def grant_id(self) -> str:
        """The grant the token comes from: its refresh family (a client-credentials grant overrides this)."""
        family = self.refresh_family()
        return family[0] if family is not None else new_grant_id()

    def generate_token(
        self, user: Any = None, scope: Any = None, include_refresh_token: bool = True, **_: Any
    ) -> dict[str, Any]:
        # authlib would call the server's token generator, which cannot see the target resource: issue here.
        request, state = self.request, self.server.state
        grant_id = self.grant_id()
        issued = issue_access_token(
            settings=self.server.settings,
            keys=self.server.keys,
            subject=request.subject,
            client_id=request.client.client_id,
            server=request.target,
            scopes=request.granted,
            grant_id=grant_id,
        )
        token: dict[str, Any] = {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": self.server.settings.access_token_ttl_seconds,
            "scope": " ".join(issued.scopes),
        }
        family = self.refresh_family()
        state.record_access_token(
            family and family[0], issued.jti, issued.expires_at,
            client_id=request.client.client_id, grant_id=grant_id, subject=request.subject.sub,
        )  # fmt: skip
        if family is not None:
            family_id, consented, resources = family
            if include_refresh_token and request.target is not None:  # a sign-in gets no refresh token
                token["refresh_token"] = state.issue_refresh_token(
                    family_id=family_id,
                    client_id=request.client.client_id,
                    user_id=request.subject.sub,
                    scopes=consented,
                    resources=resources,
                )
        return token


class CodeGrant(ResourceBoundGrant, AuthorizationCodeGrant):
    """Authorization code with PKCE, for public and confidential clients."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(PUBLIC_OR_CONFIDENTIAL)

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        try:
            for resource in self.request.payload.datalist.get("resource", []):
                resolve_target(self.server, [resource])
            max_age_of(self.request.payload.data)
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        subject: Subject = request.user
        scopes = consentable_scopes(requested=parse_scope(request.scope), roles=subject.roles)
        data = request.payload.data
        self.server.state.save_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.client_id,
                user_id=subject.sub,
                redirect_uri=data.get("redirect_uri") or request.client.get_default_redirect_uri(),
                scopes=tuple(sorted(scopes)),
                resources=tuple(request.payload.datalist.get("resource", [])),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                auth_time=request.auth_time,  # set by the consent handler from the login session
                nonce=data.get("nonce"),
            )
        )

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        found: AuthorizationCode | None = self.server.state.find_code(code, client.client_id)
        return found

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Subject:
        return fixture_subject(authorization_code.user_id)

    def validate_token_request(self) -> None:
        super().validate_token_request()  # client, code, redirect_uri, then PKCE (a hook)
        code: AuthorizationCode = self.request.authorization_code
        subject = fixture_subject(code.user_id)
        if OPENID_SCOPE in code.scopes and not self.request.payload.datalist.get("resource"):
            self.bind_sign_in(subject)
        else:
            self.bind_target(subject=subject, requested=list(code.scopes), allowed=code.resources)
        self._family_id = self.server.state.new_family()

    def refresh_family(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        code: AuthorizationCode = self.request.authorization_code
        return self._family_id, code.scopes, code.resources

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        self.server.state.use_code(authorization_code, self._family_id)


class RefreshGrant(ResourceBoundGrant, RefreshTokenGrant):
    """Rotating refresh tokens; each refresh names its `resource` and may narrow the consented scopes."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(PUBLIC_OR_CONFIDENTIAL)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        found: RefreshToken | None = self.server.state.redeem_refresh_token(refresh_token)
        return found

    def authenticate_user(self, refresh_token: RefreshToken) -> Subject:
        return fixture_subject(refresh_token.user_id)

    def validate_token_request(self) -> None:
        super().validate_token_request()  # client, token, requested scope ⊆ consented scope
        record: RefreshToken = self.request.refresh_token
        requested = parse_scope(self.request.payload.scope) or list(record.scopes)
        self.bind_target(subject=fixture_subject(record.user_id), requested=requested, allowed=record.resources)

    def refresh_family(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        record: RefreshToken = self.request.refresh_token
        return record.family_id, record.scopes, record.resources

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        refresh_token.used = True


class ServiceGrant(ResourceBoundGrant, ClientCredentialsGrant):
    """Client credentials for service clients: the client is the subject, in its registered tenant and roles."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()  # confidential client, allowed this grant, known scopes
        client = self.request.client
        subject = Subject(sub=client.client_id, tenant_id=client.tenant_id, roles=client.roles)
        self.bind_target(subject=subject, requested=parse_scope(self.request.payload.scope))

    def grant_id(self) -> str:
        return client_grant_id(self.request.client.secret_hash or "")
