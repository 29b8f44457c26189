"""Scripted OAuth flows against a running dev authorization server: what a browser and a client do.

Tokens are checked with `joserfc` against the published JWKS: an implementation independent of the
signer (`pyjwt`), so a test cannot pass by the signer agreeing with itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.applications import Starlette

from fixtures.tenants import DEV_PASSWORDS
from idp.sessions import SessionStore
from idp.settings import IdpSettings
from idp.store import IdpState

REDIRECT_URI = "http://127.0.0.1:33418/callback"
_HIDDEN = re.compile(r'<input type=hidden name="([^"]*)" value="([^"]*)">')


@dataclass
class Idp:
    """A running dev authorization server: its settings, an HTTP client, and its app (for its state)."""

    settings: IdpSettings
    http: httpx2.AsyncClient
    app: Starlette

    @property
    def state(self) -> IdpState:
        state: IdpState = self.app.state.authorization_server.state
        return state

    @property
    def sessions(self) -> SessionStore:
        sessions: SessionStore = self.app.state.sessions
        return sessions

    def resource(self, server: str) -> str:
        return self.settings.resources[server]


def pkce() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form fields for httpx (which takes repeated names as lists, not as pairs)."""
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def hidden_fields(page: str) -> list[tuple[str, str]]:
    """The hidden inputs of a page's form, unescaped."""
    return [(html.unescape(name), html.unescape(value)) for name, value in _HIDDEN.findall(page)]


def redirect_params(response: httpx2.Response) -> dict[str, str]:
    """The query parameters of a redirect's Location (which must go to the registered redirect URI)."""
    assert response.status_code == 302, (response.status_code, response.text)
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return dict(parse_qsl(urlsplit(location).query))


async def register_client(
    idp: Idp,
    *,
    name: str = "Test client",
    redirect_uris: list[str] | None = None,
    auth_method: str = "none",
    grant_types: list[str] | None = None,
) -> dict[str, Any]:
    """Register a client through RFC 7591; the registration response."""
    response = await idp.http.post(
        "/register",
        json={
            "client_name": name,
            "redirect_uris": redirect_uris or [REDIRECT_URI],
            "token_endpoint_auth_method": auth_method,
            "grant_types": grant_types or ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def authorize_params(
    client_id: str,
    challenge: str,
    *,
    scope: str | None = None,
    resources: tuple[str, ...] = (),
    state: str = "state-123",
    redirect_uri: str = REDIRECT_URI,
    method: str | None = "S256",
) -> httpx2.QueryParams:
    """Query parameters of an authorization request."""
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
    ]
    if challenge:
        params.append(("code_challenge", challenge))
    if method:
        params.append(("code_challenge_method", method))
    if scope is not None:
        params.append(("scope", scope))
    params += [("resource", resource) for resource in resources]
    return httpx2.QueryParams(params)


async def log_in(idp: Idp, params: httpx2.QueryParams, user: str, password: str | None = None) -> httpx2.Response:
    """GET /authorize, log in if asked; the consent page (or the login page again on failure)."""
    page = await idp.http.get("/authorize", params=params)
    assert page.status_code == 200, page.text
    if "Allow access?" in page.text:  # this browser's session is logged in already
        return page
    fields = dict(hidden_fields(page.text))
    login = {**fields, "username": user, "password": DEV_PASSWORDS[user] if password is None else password}
    response = await idp.http.post("/login", data=login)
    if response.status_code != 303:
        return response
    return await idp.http.get(response.headers["location"])


async def answer_consent(idp: Idp, page: httpx2.Response, decision: str = "approve") -> httpx2.Response:
    """Submit the consent form with `decision`; the authorization response."""
    assert page.status_code == 200 and "Allow access?" in page.text, page.text
    return await idp.http.post("/authorize", data=form([*hidden_fields(page.text), ("decision", decision)]))


async def authorization_code(idp: Idp, *, user: str, client_id: str, challenge: str, **request: Any) -> dict[str, str]:
    """Log in as `user`, approve, and return the authorization response's parameters (code, state, iss)."""
    consent = await log_in(idp, authorize_params(client_id, challenge, **request), user)
    return redirect_params(await answer_consent(idp, consent))


async def exchange_code(
    idp: Idp,
    *,
    code: str,
    verifier: str,
    client_id: str,
    resources: tuple[str, ...],
    redirect_uri: str = REDIRECT_URI,
) -> httpx2.Response:
    """The token request for an authorization code (public client)."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "resource": list(resources),
    }
    return await idp.http.post("/token", data=data)


async def user_tokens(idp: Idp, *, user: str, server: str, scope: str | None = None) -> dict[str, Any]:
    """The whole flow for a fresh public client: the token response for `user` on `server`."""
    client = await register_client(idp)
    verifier, challenge = pkce()
    answer = await authorization_code(idp, user=user, client_id=client["client_id"], challenge=challenge, scope=scope)
    response = await exchange_code(
        idp, code=answer["code"], verifier=verifier, client_id=client["client_id"], resources=(idp.resource(server),)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["client_id"] = client["client_id"]
    return body


async def verified(idp: Idp, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a token whose signature verifies against the published JWKS."""
    jwks = (await idp.http.get("/jwks.json")).json()
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


def error_of(response: httpx2.Response) -> str:
    """The OAuth `error` code of a JSON error response."""
    assert response.status_code in (400, 401, 503), (response.status_code, response.text)
    error: str = response.json()["error"]
    return error
