"""A relying party the way the approval pages sign people in: authlib's Starlette client, served by uvicorn.

It registers itself at the dev IdP by dynamic registration (confidential, `client_secret_basic`,
scope `openid`) or is pre-registered in the IdP's clients file (`idp.clients.add_sign_in_client`),
sends the browser to the IdP with PKCE (S256) and a nonce, and on the callback lets authlib redeem
the code and validate the ID token (signature against the JWKS, `iss`, `aud`, `nonce`, `at_hash`).
The callback answers with what authlib returned, as JSON, for the test to check.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import uvicorn
from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idp.clients import add_sign_in_client
from tests.idp.flows import Idp, hidden_fields

CALLBACK_PATH = "/approvals/auth/callback"


@dataclass
class RelyingParty:
    """A running relying party: its base URL and the client it registered."""

    url: str
    client_id: str
    client_secret: str

    @property
    def callback(self) -> str:
        return self.url + CALLBACK_PATH


def _app(issuer: str, client_id: str, client_secret: str, callback: str) -> Starlette:
    oauth = OAuth()
    oauth.register(
        "idp",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid", "code_challenge_method": "S256"},
    )

    async def login(request: Request) -> Response:
        extra = {name: request.query_params[name] for name in ("prompt", "max_age") if name in request.query_params}
        response: Response = await oauth.idp.authorize_redirect(request, callback, **extra)
        return response

    async def callback_route(request: Request) -> Response:
        try:
            token = await oauth.idp.authorize_access_token(request)
        except OAuthError as error:
            return JSONResponse({"error": error.error}, status_code=400)
        return JSONResponse({**token, "userinfo": dict(token["userinfo"])})

    routes = [Route("/approvals/auth/login", login), Route(CALLBACK_PATH, callback_route)]
    return Starlette(routes=routes, middleware=[Middleware(SessionMiddleware, secret_key="test-only-session-key")])


async def _register(idp: Idp, url: str) -> dict[str, Any]:
    registered = await idp.http.post(
        "/register",
        json={
            "client_name": "Approval pages (inventory)",
            "redirect_uris": [url + CALLBACK_PATH],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "scope": "openid",
        },
    )
    assert registered.status_code == 201, registered.text
    client: dict[str, Any] = registered.json()
    assert client["scope"] == "openid"
    return client


@asynccontextmanager
async def relying_party(idp: Idp, *, pre_registered: bool = False) -> AsyncIterator[RelyingParty]:
    """Register at `idp` (by RFC 7591, or in the IdP's clients file) and serve the relying party on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    if pre_registered:
        made, secret = add_sign_in_client(name="Approval pages", redirect_uris=[url + CALLBACK_PATH])
        client = {"client_id": made.client_id, "client_secret": secret}
    else:
        client = await _register(idp, url)
    app = _app(idp.settings.issuer, client["client_id"], client["client_secret"], url + CALLBACK_PATH)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, lifespan="off"))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        with anyio.fail_after(5):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
                await anyio.sleep(0.01)
        yield RelyingParty(url=url, client_id=client["client_id"], client_secret=client["client_secret"])
        server.should_exit = True
    sock.close()


async def submit(browser: httpx2.AsyncClient, issuer: str, page: httpx2.Response, **fields: str) -> httpx2.Response:
    """Post an IdP page's form (its hidden fields plus `fields`), following redirects like a browser."""
    action = "/login" if "action=/login" in page.text else "/authorize"
    return await browser.post(issuer + action, data={**dict(hidden_fields(page.text)), **fields})


def page_kind(response: httpx2.Response) -> str:
    """Which IdP page this is: "login", "consent", or the status and start of anything else."""
    if "<h1>Log in</h1>" in response.text:
        return "login"
    if "<h1>Allow access?</h1>" in response.text:
        return "consent"
    return f"{response.status_code} {response.text[:200]}"


def answer(response: httpx2.Response) -> dict[str, Any]:
    """The relying party's callback answer."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
