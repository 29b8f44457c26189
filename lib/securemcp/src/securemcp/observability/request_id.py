"""The request context: one id per request, and its verified caller, for logs and audit records.

- Over HTTP, `RequestIdMiddleware` (the outermost ASGI layer) gives every request a fresh random id
  of the server's own, returned in the response's `X-Request-Id` header (refusals included) and the
  only id an audit record carries: a caller cannot choose or repeat it. A caller's own `X-Request-Id`
  (behind the gateway, the gateway's id) is kept only as `client_request_id` in the logs, and only
  if it is a short token of safe characters; anything else is dropped.
- Over stdio, `RequestContextMiddleware` (an MCP middleware) mints one id per JSON-RPC message. The
  JSON-RPC id is not used: clients choose it, any JSON value will do, and it restarts at 1 in every
  session, so it identifies nothing in a log.
- On both transports that MCP middleware then binds the verified caller (tenant, user) to the
  context, so records emitted while a tool runs say who called it.

The SDK runs each message's handler in a copy of the context of the HTTP request that delivered it,
so code anywhere below (tools, services, the audit writer) reads the id with `current_request_id()`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HEADER = REQUEST_ID_HEADER.lower().encode()


@dataclass(slots=True)
class RequestContext:
    """What logs and audit records know about the request being handled."""

    request_id: str
    tenant: str | None = None
    user: str | None = None
    client_request_id: str | None = None  # the caller's X-Request-Id, if safe: for logs only


_current: ContextVar[RequestContext | None] = ContextVar("supplychain_request", default=None)


def new_request_id() -> str:
    """A fresh random request id (16 hex digits)."""
    return secrets.token_hex(8)


def safe_client_request_id(incoming: str | None) -> str | None:
    """`incoming` if it is a safe token (letters, digits, `._-`, at most 64), else None (dropped)."""
    if incoming is not None and REQUEST_ID_PATTERN.fullmatch(incoming):
        return incoming
    return None


def current_request() -> RequestContext | None:
    """The context of the request being handled, or None outside any request."""
    return _current.get()


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside any request."""
    request = _current.get()
    return request.request_id if request is not None else None


@contextmanager
def request_scope(request_id: str | None = None, *, client_request_id: str | None = None) -> Iterator[RequestContext]:
    """Run the block as one request (a fresh id unless given); the previous context is restored after."""
    request = RequestContext(request_id=request_id or new_request_id(), client_request_id=client_request_id)
    token = _current.set(request)
    try:
        yield request
    finally:
        _current.reset(token)


def bind_caller(*, tenant: str, user: str) -> None:
    """Record the verified caller on the current request (no-op outside a request)."""
    request = _current.get()
    if request is not None:
        request.tenant, request.user = tenant, user


class RequestIdMiddleware:
    """ASGI: give every HTTP request an id of our own, held in the context and sent back as `X-Request-Id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((value for name, value in scope["headers"] if name == _HEADER), None)
        client_request_id = safe_client_request_id(incoming.decode("latin-1") if incoming is not None else None)
        request_id = new_request_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with request_scope(request_id, client_request_id=client_request_id):
            await self.app(scope, receive, send_with_id)


class RequestContextMiddleware:
    """MCP middleware: each message runs in a request context (minted over stdio) naming its caller.

    Install it before the tool gate, so the gate's own records carry the id too.
    """

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if _current.get() is not None:  # HTTP: RequestIdMiddleware opened it
            _bind_caller_of(ctx)
            return await call_next(ctx)
        with request_scope():
            _bind_caller_of(ctx)
            return await call_next(ctx)


def _bind_caller_of(ctx: ServerRequestContext[Any, Any]) -> None:
    """Bind the verified caller: the token's subject over HTTP, the configured local identity over stdio.

    Read directly rather than through `securemcp.runtime.caller` (which builds scopes too): this runs for every
    message, and keeps this module free of imports from the rest of `securemcp`, so any module may import it.
    """
    token = get_access_token()
    if token is not None:
        # `<tenant>/<user>`, as the verifier wrote it: the tenant its issuer decided, whatever the claims say.
        tenant, _, user = (token.subject or "").partition("/")
        bind_caller(tenant=tenant, user=user)
        return
    local = getattr(ctx.lifespan_context, "local_identity", None)
    if local is not None:
        bind_caller(tenant=local.tenant_id, user=local.user_id)
