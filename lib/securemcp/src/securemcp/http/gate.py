"""The gate after authentication on the MCP endpoint (`HttpGate`): the 401 challenge, the per-tenant
rate limit, and the step-up challenge with its audit record (see `securemcp.http.app` for the whole chain).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from limits import parse as parse_rate_limit
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.routes import build_resource_metadata_url
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from securemcp.audit.attribution import Attribution, attribution_of
from securemcp.audit.unreadable import UNREADABLE_DETAIL, handshake_era, unreadable_tool_call
from securemcp.gate.tool_gate import ToolRule
from securemcp.http.guards import json_response
from securemcp.http.refusals import RefusalLog
from securemcp.http.refused_calls import watching_refusals
from securemcp.identity.principal import Identity, IdentityError
from securemcp.identity.tokens import TENANT_REFUSAL
from securemcp.identity.verified import identity_of_token
from securemcp.observability.request_id import current_request_id
from securemcp.policy import reading_scope
from securemcp.runtime.caller import running_state
from securemcp.runtime.unit_of_work import CallUnitOfWork
from securemcp.settings import ServerSettings

logger = logging.getLogger(__name__)


class HttpGate:
    """Per-tenant rate limit and step-up scope challenge for authenticated MCP requests."""

    def __init__(
        self, app: ASGIApp, *, rules: Mapping[str, ToolRule], settings: ServerSettings, refusals: RefusalLog
    ) -> None:
        self.app = app
        self.refusals = refusals
        self.rules = dict(rules)
        self.settings = settings
        self.max_body = settings.max_body_bytes
        self.offers = settings.offers_tool
        self.metadata_url = str(build_resource_metadata_url(AnyHttpUrl(settings.resource_url)))
        # This server's own reading scope: not audit:read, which only auditors need.
        self.initial_scope = reading_scope(settings.server_name)
        self.server_scopes = frozenset(rule.scope for rule in self.rules.values())
        # In this process's memory: N workers or replicas let a tenant through N times (see the setting);
        # the gateway's per-tenant limit is the one that holds.
        self.limit = parse_rate_limit(settings.rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not isinstance(user, AuthenticatedUser):
            # No tenant: logged, never recorded (`securemcp.http.refusals`). A request with no credential at
            # all is how every OAuth client discovers the metadata: a challenge, not a refused token.
            authorization = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), None)
            if authorization is not None:
                self.refusals.unauthenticated()
                await self._record_tenant_refusal(scope, authorization)
            await self._unauthorized(scope, receive, send)
            return
        try:
            identity = identity_of_token(
                user.access_token, self.settings.policy, read_only_mode=self.settings.read_only,
                person_claim=self.settings.person_claim,
            )  # fmt: skip
        except IdentityError:
            await self.app(scope, receive, send)
            return
        if not await self.limiter.hit(self.limit, "tenant", identity.tenant_id):
            attribution = attribution_of(scope, token=user.access_token)
            description = f"tenant request limit {self.limit} reached"
            await self.refusals.refused(identity, "rate_limited", description, attribution)
            await self._too_many_requests(identity.tenant_id, scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive, self.max_body)
        if not complete:
            attribution = attribution_of(scope, token=user.access_token)
            description = f"request body over {self.max_body} bytes"
            await self.refusals.refused(identity, "body_too_large", description, attribution)
            await json_response(413, {"error": "request body too large"})(scope, receive, send)
            return
        # Judged with the parser the SDK will use for this request's era (`securemcp.audit.unreadable`).
        unreadable = unreadable_tool_call(body, handshake=handshake_era(scope))
        needed = self._scope_needed(body) if unreadable is None else None
        if unreadable is not None:
            # The SDK will answer a parse error; the call still leaves its record.
            attribution = attribution_of(scope, known_tool=unreadable[0] in self.rules, token=user.access_token)
            await self._record_refusal(identity, *unreadable, detail=UNREADABLE_DETAIL, attribution=attribution)
        if needed is not None and not identity.has_scope(needed) and identity.roles_allow(needed):
            params = json.loads(body)["params"]  # a tools/call message: `_scope_needed` parsed it already
            arguments = params.get("arguments")
            arguments = arguments if isinstance(arguments, dict) else {}
            attribution = attribution_of(scope, token=user.access_token)
            await self._record_refusal(
                identity, params["name"], arguments, detail=f"missing scope {needed}", attribution=attribution
            )
            await self._step_up(identity, needed)(scope, receive, send)
            return
        if b"tools/call" in body:
            # A call the SDK refuses before its dispatch never reaches the tool gate: recorded here instead.
            async def refused(reason: str, message: str) -> None:
                attribution = attribution_of(scope, token=user.access_token)
                await self.refusals.refused(identity, reason, message, attribution)

            send = watching_refusals(scope, send, refused, parse_error_recorded=unreadable is not None)
        await self.app(scope, _replay(body, receive), send)

    async def _record_tenant_refusal(self, scope: Scope, authorization: bytes) -> None:
        """A token its issuer signed but that named another tenant: a record in the bound tenant's chain.

        Only a token whose signature verified gets here (`securemcp.identity.tokens.TENANT_REFUSAL`), so
        only the bound tenant's own issuer can write such a record; the refusal log aggregates a flood.
        """
        refusal = TENANT_REFUSAL.get()
        if refusal is None:
            return
        TENANT_REFUSAL.set(None)
        if authorization.decode("latin-1")[7:] != refusal.token.token:  # not this request's token
            return
        attribution = attribution_of(scope, token=refusal.token)
        await self.refusals.refused(refusal.identity, "tenant_mismatch", refusal.reason, attribution)

    def _step_up(self, identity: Identity, needed: str) -> ASGIApp:
        """403 asking for the scopes the token holds on this server plus `needed`, all allowed by the roles.

        Clients re-authorize with exactly the challenged list (the TypeScript SDK does): naming only the
        missing scope would trade the token's reading scope for it, and the next read would step up again.
        """
        wanted = {held for held in identity.scopes & self.server_scopes if identity.roles_allow(held)} | {needed}
        scopes = " ".join(sorted(wanted))
        challenge = (
            f'Bearer error="insufficient_scope", scope="{scopes}", resource_metadata="{self.metadata_url}", '
            f'error_description="this call requires scope {needed}"'
        )
        return json_response(403, {"error": "insufficient_scope", "scope": scopes}, {"WWW-Authenticate": challenge})

    async def _unauthorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        """401 with the challenge the MCP spec asks for, naming the least scope that is useful here.

        Offering only the reading scope first means a client asks for write access when it needs
        it, through the 403 step-up below, rather than up front.
        """
        challenge = (
            f'Bearer error="invalid_token", error_description="Authentication required", '
            f'scope="{self.initial_scope}", resource_metadata="{self.metadata_url}"'
        )
        body = {"error": "invalid_token", "error_description": "Authentication required"}
        await json_response(401, body, {"WWW-Authenticate": challenge})(scope, receive, send)

    async def _record_refusal(
        self, identity: Identity, tool: str, arguments: dict[str, Any], *, detail: str, attribution: Attribution
    ) -> None:
        """The audit record of a tool call refused here (missing scope, or unparseable by the SDK), as the
        tool gate would write it.

        A failure to record is logged, not answered: the call is refused either way, and nothing ran.
        """
        state = running_state(self.settings)
        rule = self.rules.get(tool)
        call = CallUnitOfWork(
            schema=self.settings.server_name, tool=tool, arguments=arguments, identity=identity, transport="http",
            request_id=current_request_id(), side_effect=rule.side_effect if rule is not None else False,
            attribution=attribution,
        )  # fmt: skip
        try:
            if state is None:
                raise RuntimeError("the server's lifespan is not running")
            await call.finish(state.engine, outcome="refused", detail=detail, output_bytes=0)
        except Exception:
            logger.exception("audit record for a refused %s call could not be written", call.tool)

    def _scope_needed(self, body: bytes) -> str | None:
        """The scope a `tools/call` body needs; None for other messages (the SDK validates them)."""
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: deeply nested arrays (found by tests/fuzz)
            return None
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str) or (rule := self.rules.get(name)) is None:
            return None
        if self.offers(name, side_effect=rule.side_effect) is not None:
            return None  # no step-up for a tool this deployment withholds: the tool gate says why
        return rule.scope

    async def _too_many_requests(self, tenant: str, scope: Scope, receive: Receive, send: Send) -> None:
        reset_at, _remaining = await self.limiter.get_window_stats(self.limit, "tenant", tenant)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        body = {"error": "rate_limited", "error_description": f"tenant request limit {self.limit} reached"}
        await json_response(429, body, {"Retry-After": str(retry_after)})(scope, receive, send)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """Read the whole request body, stopping (complete=False) once it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the already-read body once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
