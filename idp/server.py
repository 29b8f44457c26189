"""The authorization server: authlib's framework-free `AuthorizationServer`, adapted to Starlette.

authlib 1.9 ships server integrations for Flask and Django only. Its core server needs four things
from a framework, implemented here: turn a request into authlib's `OAuth2Request` or `JsonRequest`,
turn authlib's `(status, body, headers)` into a response, and (optionally) signals. Starlette reads
request bodies asynchronously while authlib is synchronous, so the app reads the request first and
hands authlib an `HttpSnapshot`. Everything else (grants, PKCE, registration, revocation,
introspection, the RFC 9207 `iss` parameter) is authlib's, configured in `DevAuthorizationServer`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import JsonPayload, JsonRequest, OAuth2Error, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc9207 import IssuerParameter
from starlette.datastructures import Headers
from starlette.responses import Response

from deployment.policy import ALL_SCOPES
from idp.cimd import ClientMetadataDocuments, is_document_client_id
from idp.clients import Client, ClientRegistry
from idp.endpoints import Introspection, Registration, Revocation
from idp.enterprise import EnterpriseKeys
from idp.grants import CodeGrant, RefreshGrant, S256CodeChallenge, ServiceGrant
from idp.id_jag import ID_JAG_PROFILE, JWT_BEARER, EnterpriseGrant
from idp.keys import KeyRing
from idp.oidc import IdTokens, discovery_metadata
from idp.settings import IdpSettings
from idp.store import IdpState
from idp.tokens import OPENID_SCOPE

SCOPES_SUPPORTED = sorted({*ALL_SCOPES, OPENID_SCOPE})
AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class HttpSnapshot:
    """What authlib needs of one request, read before calling it: parameters from the query (GET) or body."""

    method: str
    url: str
    headers: Headers
    params: list[tuple[str, str]] = field(default_factory=list)
    json_body: Any = None


class _Payload(OAuth2Payload):
    def __init__(self, params: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in params:
            self._data.setdefault(name, value)  # like Flask's MultiDict.get: the first value
            self._datalist[name].append(value)  # authlib refuses repeated parameters by looking here

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class SnapshotRequest(OAuth2Request):
    """An `OAuth2Request` over a snapshot; query parameters only for GET, body parameters only for POST."""

    def __init__(self, snapshot: HttpSnapshot) -> None:
        super().__init__(method=snapshot.method, uri=snapshot.url, headers=snapshot.headers)
        self.payload = _Payload(snapshot.params)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data if self.method == "POST" else {}


class _JsonPayload(JsonPayload):
    def __init__(self, body: Any) -> None:
        self._body = body

    @property
    def data(self) -> Any:
        return self._body


@dataclass
class OAuthResponse:
    """authlib's `(status, body, headers)`; `location` is what the RFC 9207 extension rewrites."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != "location"] + [("Location", value)]

    def to_starlette(self) -> Response:
        """The same response for Starlette (JSON bodies serialised)."""
        content = json.dumps(self.body) if isinstance(self.body, dict) else (self.body or "")
        headers = {name: value for name, value in self.headers if name.lower() != "content-length"}
        return Response(content=content, status_code=self.status, headers=headers)


class _Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class DevAuthorizationServer(AuthorizationServer):
    """authlib's authorization server with this project's grants, endpoints, clients, keys and state."""

    def __init__(self, *, settings: IdpSettings, keys: KeyRing, clients: ClientRegistry, state: IdpState) -> None:
        super().__init__(scopes_supported=SCOPES_SUPPORTED)
        self.settings, self.keys, self.clients, self.state = settings, keys, clients, state
        self.documents = ClientMetadataDocuments(settings)
        self.enterprise = EnterpriseKeys(settings.enterprise_idps)
        self.register_grant(CodeGrant, [S256CodeChallenge(required=True), IdTokens(self)])
        self.register_grant(RefreshGrant)
        self.register_grant(ServiceGrant)
        self.register_grant(EnterpriseGrant)
        self.register_endpoint(Registration)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(_Issuer(settings.issuer))

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata, with what OpenID Connect Discovery adds (one document)."""
        url = self.settings.url
        grant_types = ["authorization_code", "refresh_token", "client_credentials"]
        # Advertised once an enterprise IdP is configured: before that, every ID-JAG is refused.
        profiles = [ID_JAG_PROFILE] if self.settings.enterprise_idps else []
        enterprise = {"authorization_grant_profiles_supported": profiles} if profiles else {}
        return {
            "issuer": self.settings.issuer,
            "authorization_endpoint": url("/authorize"),
            "token_endpoint": url("/token"),
            "registration_endpoint": url("/register"),
            "revocation_endpoint": url("/revoke"),
            "introspection_endpoint": url("/introspect"),
            "jwks_uri": url("/jwks.json"),
            "supplychain_revocation_list_uri": url("/revocations"),
            "response_types_supported": ["code"],
            "grant_types_supported": [*grant_types, JWT_BEARER] if enterprise else grant_types,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": SCOPES_SUPPORTED,
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": True,
            **discovery_metadata(url),
            **enterprise,
        }

    def query_client(self, client_id: str) -> Client | None:
        if is_document_client_id(client_id):  # loaded by the app before authlib runs (`idp.cimd`)
            return self.documents.cached(client_id)
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Nothing to do: the grants record what they issue as they issue it (`idp.grants`)."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else SnapshotRequest(request)

    def create_json_request(self, request: HttpSnapshot) -> JsonRequest:
        json_request = JsonRequest(request.method, request.url, request.headers)
        json_request.payload = _JsonPayload(request.json_body)
        return json_request

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return OAuthResponse(status=status, body=body, headers=list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal receivers in this server."""

    def authorization_error(self, error: OAuth2Error) -> OAuthResponse:
        """An authorization endpoint error: redirected to the client (with `iss`) if its redirect URI is known."""
        response: OAuthResponse = self.handle_error_response(None, error)
        if error.redirect_uri:
            self.execute_hook("after_create_authorization_response", response)
        return response
