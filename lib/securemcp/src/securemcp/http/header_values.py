"""HTTP header values without their surrounding whitespace, as RFC 9110 (section 5.5) defines them.

uvicorn's httptools parser (the one `supplychain serve` runs) keeps trailing spaces and tabs in a
field value, where h11 drops them. The SDK compares `Mcp-Method` and `Mcp-Name` with the request body
exactly, so a legal `Mcp-Name: list_warehouses ` got 400 HeaderMismatch (found by the conformance
suite's http-header-validation scenario). Trimming once, before anything reads a header, gives every
check after it (Host, Origin, the token, the SDK's header rungs) the value HTTP means.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_OPTIONAL_WHITESPACE = b" \t"


class TrimmedHeaderValues:
    """ASGI middleware that strips optional whitespace around every request header value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # In place, not a copy: the guards inside redact the same scope uvicorn's access log reads.
            scope["headers"] = [(name, value.strip(_OPTIONAL_WHITESPACE)) for name, value in scope["headers"]]
        await self.app(scope, receive, send)
