"""What the SDK needs to make a server an OAuth resource server, apart from the HTTP stack itself.

Each server's `build_server` calls these for both transports; they live apart from `securemcp.http.app` so
that a stdio server does not import the HTTP stack at start-up (cold start, measured by
`supplychain bench --case cold-start`).
"""

from __future__ import annotations

from mcp.server.auth.settings import AuthSettings
from mcp.server.request_state import RequestStateSecurity
from pydantic import AnyHttpUrl

from securemcp.settings import ServerSettings


def resource_server_auth(settings: ServerSettings) -> AuthSettings:
    """The SDK's auth settings: our issuer, our canonical URL, and the RFC 8707 audience check on."""
    return AuthSettings(
        issuer_url=settings.issuer_url,  # a str, not AnyHttpUrl: no trailing slash, byte-equal to `iss`
        resource_server_url=AnyHttpUrl(settings.resource_url),
        validate_token_resource=True,
    )


def request_state_security(settings: ServerSettings) -> RequestStateSecurity | None:
    """Sealing of 2026-07-28 request state under the key the server's replicas share, if one is set.

    None leaves the SDK's default: a key of this process only, which a second replica cannot open.
    """
    keys = settings.request_state_keys()
    return RequestStateSecurity(keys=keys) if keys is not None else None
