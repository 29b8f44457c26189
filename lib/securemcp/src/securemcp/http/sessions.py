"""Caps on open 2025-11-25 sessions per tenant and per user, so no tenant can take every session.

The SDK's session manager caps the sessions of the whole process (`MAX_SESSIONS`): alone, one tenant
that opens that many sessions makes every other tenant's 2025-11-25 clients get 503. `SessionQuota`
adds two caps under it, counted on the verified principal that owns each session (the token's
subject, `<tenant>/<user>`, see `securemcp.identity.tokens`): `MAX_SESSIONS_PER_TENANT` and
`MAX_SESSIONS_PER_USER`. A request that would open a session over either cap gets the SDK's own
refusal (503 "Too many open sessions"), and only that tenant's or user's requests do; a session
closed (DELETE), idle past its timeout or crashed frees its place.

It wraps the session manager's admission and discard steps (`mcp` is pinned, and
tests/http/test_sessions_quota.py fails if either step stops being called).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

logger = logging.getLogger(__name__)

Owner = tuple[str, str]  # (tenant, user)


def session_owner(requestor: AuthorizationContext | None) -> Owner:
    """The tenant and user a session belongs to, from the verified token's subject `<tenant>/<user>`."""
    subject = (requestor["subject"] if requestor is not None else None) or ""
    tenant, _, user = subject.partition("/")
    return tenant, user


class SessionQuota:
    """Per-tenant and per-user caps on the open sessions of one session manager."""

    def __init__(self, *, per_tenant: int, per_user: int) -> None:
        if not 1 <= per_user <= per_tenant:
            raise ValueError(f"need 1 <= sessions per user ({per_user}) <= sessions per tenant ({per_tenant})")
        self.per_tenant = per_tenant
        self.per_user = per_user
        self.tenants: Counter[str] = Counter()
        self.users: Counter[Owner] = Counter()
        self._owners: dict[str, Owner] = {}

    def install(self, manager: StreamableHTTPSessionManager) -> None:
        """Count every session `manager` opens and closes, and refuse one over a cap."""
        admit: Callable[[AuthorizationContext | None], StreamableHTTPServerTransport | None] = manager._admit_session
        discard: Callable[[str, StreamableHTTPServerTransport], Awaitable[None]] = manager._discard_session

        def admit_within_quota(requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
            owner = session_owner(requestor)
            if self.tenants[owner[0]] >= self.per_tenant or self.users[owner] >= self.per_user:
                logger.warning(
                    "refusing a new session for %s of tenant %s: %d of the tenant's %d, %d of the user's %d open",
                    owner[1], owner[0], self.tenants[owner[0]], self.per_tenant, self.users[owner], self.per_user,
                )  # fmt: skip
                return None
            transport = admit(requestor)  # the SDK's own cap for the whole process still applies
            if transport is not None and transport.mcp_session_id is not None:
                self._owners[transport.mcp_session_id] = owner
                self.tenants[owner[0]] += 1
                self.users[owner] += 1
            return transport

        async def discard_and_release(session_id: str, transport: StreamableHTTPServerTransport) -> None:
            owner = self._owners.pop(session_id, None)  # discarding twice releases once
            if owner is not None:
                self.tenants[owner[0]] -= 1
                self.users[owner] -= 1
                if not self.tenants[owner[0]]:
                    del self.tenants[owner[0]]
                if not self.users[owner]:
                    del self.users[owner]
            await discard(session_id, transport)

        manager._admit_session = admit_within_quota  # type: ignore[method-assign]
        manager._discard_session = discard_and_release  # type: ignore[method-assign]
