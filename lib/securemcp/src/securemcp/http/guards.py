"""The HTTP guards that run before authentication, on every path, and the JSON answers they give.

- `TokenInQueryGuard`: `?access_token=`, in any percent-encoded spelling, is refused with 400
  (tokens only in headers), and the query is blanked in the request scope first, so an access log
  does not record the token;
- `HostOriginGuard`: the Host and Origin allow-lists (`transport_security`), 421/403;
- `json_response`: the small JSON refusals every layer of `securemcp.http.app` answers with.

Header values are trimmed before any of them reads one (`securemcp.http.header_values`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from securemcp.settings import PAGES_PATH, ServerSettings


def json_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> ASGIApp:
    """An ASGI app answering `status` with a JSON `body` (and extra `headers`)."""
    payload = json.dumps(body).encode()

    async def respond(scope: Scope, receive: Receive, send: Send) -> None:
        extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return respond


def names_a_token(query: bytes) -> bool:
    """True when the query string, percent-decoded (up to three times, `+` as space), mentions
    `access_token` in any case: `?access%5Ftoken=`, `?%2561ccess_token=` and `?ACCESS_TOKEN=` as well.

    Decoded as often as a proxy and a framework behind it together might; MCP endpoints take no query
    parameters, so refusing a mere mention costs nothing.
    """
    text = query.decode("latin-1")
    for _ in range(3):
        if "access_token" in text.lower():
            return True
        text = unquote_plus(text)
    return "access_token" in text.lower()


class TokenInQueryGuard:
    """Refuse any request that carries a token in the query string (OAuth 2.1: headers only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and names_a_token(scope.get("query_string", b"")):
            # uvicorn's access log (INFO) prints the query string from this scope: keep none of it.
            scope["query_string"] = b"REDACTED"
            body = {"error": "invalid_request", "error_description": "tokens go in the Authorization header only"}
            await json_response(400, body)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HostOriginGuard:
    """Host and Origin allow-lists on every request and every path, before authentication.

    The SDK checks them inside its transport, after the token; checking first means a page served
    from a rebinding domain learns nothing, not even whether a token would have been accepted.
    """

    def __init__(
        self, app: ASGIApp, security: TransportSecuritySettings, pages: TransportSecuritySettings | None = None
    ) -> None:
        self.app = app
        self.checker = TransportSecurityMiddleware(security)
        # The approval pages (`pages`, if given) also accept the server's own Origin: their forms post back.
        self.pages_checker = TransportSecurityMiddleware(pages) if pages is not None else self.checker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            on_pages = path == PAGES_PATH or path.startswith(f"{PAGES_PATH}/")
            checker = self.pages_checker if on_pages else self.checker
            refusal = await checker.validate_request(Request(scope), is_post=False)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def transport_security(settings: ServerSettings) -> TransportSecuritySettings:
    """Explicit Host and Origin allow-lists, enforced whatever address the server binds."""
    port = settings.listen_port
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", *settings.allowed_hosts}
    if settings.host not in ("0.0.0.0", "::"):  # noqa: S104 (compared, not bound)
        hosts.add(f"{settings.host}:{port}")  # its own address, e.g. a replica's 127.0.0.11:8101
    if settings.public_url is not None:
        hosts.add(AnyHttpUrl(settings.public_url).host or "")
        hosts.add(f"{AnyHttpUrl(settings.public_url).host}:{AnyHttpUrl(settings.public_url).port}")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(host for host in hosts if host),
        allowed_origins=list(settings.allowed_origins),
    )


def pages_transport_security(settings: ServerSettings) -> TransportSecuritySettings:
    """`transport_security` for the approval pages: their own origin is allowed too (their forms post
    back; the pages carry no script, so nothing else of that origin sends requests)."""
    security = transport_security(settings)
    origins = sorted({*security.allowed_origins, own_origin(settings)})
    return security.model_copy(update={"allowed_origins": origins})


def own_origin(settings: ServerSettings) -> str:
    """The scheme, host and port the server's pages are reached at (the gateway's, behind one)."""
    parts = urlsplit(settings.resource_url)
    return f"{parts.scheme}://{parts.netloc}"
