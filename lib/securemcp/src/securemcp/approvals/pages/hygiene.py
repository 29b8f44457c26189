"""What every approval page response carries, and the CSRF check every form post passes first.

Guarantees:
- every response of the pages (errors and redirects included) has a CSP that allows no script at
  all, styles only from the pages' own origin, forms posting only to it and no framing; plus
  `nosniff`, no referrer to any other site (an approval id in a URL goes nowhere else) and `no-store`;
- each session has its own random CSRF token, kept with it on the server; a form post whose token is
  missing or different is refused with 403 before the request is read any further, so nothing changes.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not `no-referrer`: with it Chromium sends `Origin: null` on form posts, which the Origin allow-list
    # (securemcp.http.app.HostOriginGuard) must refuse. `same-origin` still sends nothing to any other site.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CSRF_FIELD = "csrf_token"


class PageHeaders:
    """ASGI middleware: the headers above on every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PAGE_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def csrf_matches(expected: str, submitted: object) -> bool:
    """True when a form carried the session's token (compared in constant time)."""
    if not isinstance(submitted, str) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
