"""Which credential, which trace, from where: the attribution fields of an audit record.

- `token_id`: the verified token's `jti`. A token without one (another IdP, accepted with
  `REVOCATION=none`) is named `sha256:` + the first 32 hex digits of its SHA-256, never by the token
  itself. `local` over stdio, where there is no token.
- `grant_id` (not an audit column): the grant the token came from, when the issuer names one; a
  pending approval records it, so revoking the grant voids the approval (`securemcp.approvals.recheck`).
- `token_scope`: that token's `scope` claim, so a replacement can be minted with the same scopes.
- `trace_id`: the OpenTelemetry trace id of the call (`securemcp.observability.telemetry`).
- `client_address`: the peer address in the HTTP request scope. Behind the gateway, uvicorn puts the
  `X-Forwarded-For` client there only when the peer is one of `FORWARDED_ALLOW_IPS` (`supplychain
  serve`); from anyone else the header is ignored, so a client cannot choose what is recorded.

All of it is read from what the request already carries: no lookup, no I/O on the call's path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

from securemcp.observability.telemetry import current_trace_id


@dataclass(frozen=True, slots=True)
class Attribution:
    """The attribution of one call, and the tool name its metric may carry."""

    token_id: str = "local"  # noqa: S105 (an id, not a secret)
    token_scope: str | None = None
    trace_id: str | None = None
    client_address: str | None = None
    # None: the tool's own name. "unknown" for names the server did not register (bounded metric labels).
    metric_tool: str | None = None
    grant_id: str | None = None

    def fields(self) -> dict[str, str | None]:
        """The audit record's columns."""
        return {"token_id": self.token_id, "token_scope": self.token_scope, "trace_id": self.trace_id,
                "client_address": self.client_address}  # fmt: skip


LOCAL = Attribution()


def token_id_of(token: AccessToken | None) -> str:
    """The id an audit record names a token by (see the module docstring)."""
    if token is None:
        return "local"
    jti = (token.claims or {}).get("jti")
    if isinstance(jti, str) and jti:
        return jti[:200]
    return "sha256:" + hashlib.sha256(token.token.encode()).hexdigest()[:32]


def client_address_of(scope: Any) -> str | None:
    """The peer host of an ASGI HTTP scope (or a Starlette request), if any."""
    scope = getattr(scope, "scope", scope)
    client = scope.get("client") if isinstance(scope, dict) else None
    return str(client[0])[:100] if client else None


def attribution_of(request: Any, *, known_tool: bool = True, token: AccessToken | None = None) -> Attribution:
    """The attribution of the call being served: its token (default: the request's), trace and peer."""
    token = token if token is not None else get_access_token()
    claims = (token.claims or {}) if token is not None else {}
    scope, grant_id = claims.get("scope"), claims.get("grant_id")
    return Attribution(
        token_id=token_id_of(token),
        token_scope=scope[:1000] if isinstance(scope, str) else None,
        trace_id=current_trace_id(),
        client_address=client_address_of(request) if request is not None else None,
        metric_tool=None if known_tool else "unknown",
        grant_id=grant_id[:200] if isinstance(grant_id, str) and grant_id else None,
    )
