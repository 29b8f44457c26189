"""Tokens from oidc-provider, got the way a person's client gets them: authorization code with PKCE.

No browser: the person's part is posting oidc-provider's own dev login and consent forms
(`features.devInteractions`) over plain HTTP with a cookie jar, as a browser would submit them.
The dev login takes any password; the login it is given becomes the subject, so it is the person's UUID.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2

from tests.identity_providers.provider import (
    APPROVALS_CLIENT_ID,
    MCP_CLIENT_ID,
    MCP_REDIRECT_URI,
    OidcProvider,
    Person,
)
from tests.idp.flows import pkce

_PROMPT = re.compile(r'<input type="hidden" name="prompt" value="(\w+)"/>')
_ACTION = re.compile(r'<form autocomplete="off" action="([^"]+)" method="post">')


class FlowFailed(Exception):
    """The provider did not lead to a code (an error redirect, an unexpected page)."""


async def authorization_code(
    http: httpx2.AsyncClient, provider: OidcProvider, person: Person, params: dict[str, str]
) -> str:
    """Send the person to the authorization endpoint with `params`, sign in and consent on the provider's
    forms, and return the code the redirect carries (its `state` and `iss` checked)."""
    redirect_uri = params["redirect_uri"]
    response = await http.get(f"{provider.issuer}/auth", params=params)
    for _ in range(10):  # login, consent and their resumes: a handful of hops
        if response.status_code not in (302, 303):
            raise FlowFailed(f"HTTP {response.status_code} at {response.url}: {response.text[:300]}")
        location = urljoin(str(response.url), response.headers["location"])
        if location.startswith(redirect_uri):
            answer = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
            if "error" in answer:
                raise FlowFailed(f"{answer['error']}: {answer.get('error_description', '')}")
            if answer.get("state") != params["state"] or answer.get("iss") != provider.issuer:
                raise FlowFailed(f"redirect with wrong state or iss: {answer}")
            return answer["code"]
        page = await http.get(location)
        if page.status_code in (302, 303):
            response = page
            continue
        response = await _submit(http, page, person)
    raise FlowFailed("no code after 10 redirects")


async def _submit(http: httpx2.AsyncClient, page: httpx2.Response, person: Person) -> httpx2.Response:
    """Post the dev interaction form `page` shows: the login (the person's subject, any password) or
    the consent (everything asked)."""
    prompt, action = _PROMPT.search(page.text), _ACTION.search(page.text)
    if page.status_code != 200 or prompt is None or action is None:
        raise FlowFailed(f"not an interaction form (HTTP {page.status_code}): {page.text[:300]}")
    form = {"prompt": prompt.group(1)}
    if form["prompt"] == "login":
        form |= {"login": person.subject, "password": "any password: the dev login checks none"}
    return await http.post(urljoin(str(page.url), action.group(1)), data=form)


async def access_token_response(provider: OidcProvider, person: Person, *, resource: str, scope: str) -> dict[str, Any]:
    """The token response the MCP client gets for `person` on `resource` (RFC 8707) with `scope`."""
    verifier, challenge = pkce()
    params = {
        "client_id": MCP_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": MCP_REDIRECT_URI,
        "scope": scope,
        "resource": resource,
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with httpx2.AsyncClient(timeout=10) as http:  # a browser of its own: a fresh cookie jar
        code = await authorization_code(http, provider, person, params)
        response = await http.post(
            f"{provider.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": MCP_REDIRECT_URI,
                "code_verifier": verifier,
                "client_id": MCP_CLIENT_ID,
                "resource": resource,
            },
        )
    if response.status_code != 200:
        raise FlowFailed(f"token endpoint: HTTP {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


async def access_token(provider: OidcProvider, person: Person, *, resource: str, scope: str) -> str:
    """An access token (an RFC 9068 JWT) for `person` on `resource`."""
    return str((await access_token_response(provider, person, resource=resource, scope=scope))["access_token"])


async def id_token_response(provider: OidcProvider, person: Person, *, redirect_uri: str) -> dict[str, Any]:
    """The token response of the approval pages' confidential client for a plain `openid` sign-in by
    `person` (client_secret_basic at the token endpoint; PKCE, a nonce and `max_age` as the pages send
    them: oidc-provider puts `auth_time` in the ID token only when `max_age` is asked for)."""
    verifier, challenge = pkce()
    nonce = secrets.token_urlsafe(16)
    params = {
        "client_id": APPROVALS_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": secrets.token_urlsafe(16),
        "nonce": nonce,
        "max_age": "300",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with httpx2.AsyncClient(timeout=10) as http:
        code = await authorization_code(http, provider, person, params)
        response = await http.post(
            f"{provider.issuer}/token",
            auth=(APPROVALS_CLIENT_ID, provider.approvals_client_secret),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
    if response.status_code != 200:
        raise FlowFailed(f"token endpoint: HTTP {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    body["sent_nonce"] = nonce
    return body
