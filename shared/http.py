"""Phase 2: a server as an OAuth 2.1 resource server over Streamable HTTP.

`build_http_app` takes the SDK's Streamable HTTP app (which already does RFC 9728 metadata, 401
challenges, the RFC 8707 audience check, Host/Origin validation, the body limit and legacy session
ids bound to the token's principal) and adds what the SDK leaves to us, each visible here:

- `SessionQuota` (`shared.sessions`): caps on open legacy sessions per tenant and per user;
- `RequestIdMiddleware` (`shared.request_id`): each request's id, in the logs and the `X-Request-Id`
  response header;
- `TokenInQueryGuard`: `?access_token=`, in any percent-encoded spelling, is refused with 400 on
  every path (tokens only in headers), and the query is blanked in the request scope first, so an
  access log does not record the token;
- `HostOriginGuard`: the Host and Origin allow-lists on every path, before authentication (421/403);
- `HttpGate`, after authentication, on the MCP endpoint:
  - the 401 challenge, carrying the server's reading scope as the `scope` to ask for first;
  - a per-tenant rate limit keyed on the *verified* tenant (429 with `Retry-After`), so one tenant's
    flood leaves the others alone;
  - the step-up challenge: a `tools/call` whose scope the token lacks but the caller's roles allow
    gets 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="<held> <needed>", ...`:
    the scopes the token already holds on this server plus the one needed (MCP 2025-11-25), so a
    client that re-authorizes with exactly that list keeps what it had. Every scope in it is re-derived
    from the roles (`shared.policy`), so a challenge never asks for more than they allow; a scope the
    roles do not allow is not challenged (re-authorizing cannot help) and the tool gate refuses the call
    with its JSON-RPC scope error. Since the MCP layer never sees a challenged call, the gate writes its
    audit record itself, through the running server's engine (`shared.caller.running_state`);
- metadata that lists the scopes this server understands;
- `GET /healthz` for the gateway's health checks: unauthenticated, and it says only "ok";
- the issuer's keys (re-read every `KEY_REFRESH_SECONDS`) and revocation list, fetched in the
  background for the life of the app.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_plus

import anyio
import httpx2
from limits import parse as parse_rate_limit
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.attribution import Attribution, attribution_of
from shared.audit import CallAudit
from shared.audit_unreadable import UNREADABLE_DETAIL, unreadable_tool_call
from shared.authz import ToolRule
from shared.caller import identity_from_claims, running_state
from shared.header_values import TrimmedHeaderValues
from shared.identity import Identity, IdentityError
from shared.policy import reading_scope
from shared.request_id import RequestIdMiddleware, current_request_id
from shared.sessions import SessionQuota
from shared.settings import ServerSettings
from shared.tokens import IssuerUnavailable, JWTVerifier, KeySet, RevocationList, discover

logger = logging.getLogger(__name__)


class Issuer:
    """The authorization server as a resource server sees it: keys and revocations, kept fresh."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.client = httpx2.AsyncClient(timeout=5.0, follow_redirects=False)
        self.keys = KeySet(settings.jwks_url or "", self.client, refresh_interval_seconds=settings.key_refresh_seconds)
        self.revocations: RevocationList | None = (
            RevocationList("", self.client, max_staleness_seconds=settings.revocation_staleness_seconds)
            if settings.revocation == "list"
            else None
        )

    def verifier(self) -> JWTVerifier:
        """The token verifier for this server's audience."""
        return JWTVerifier(
            issuer=self.settings.issuer_url,
            resource_url=self.settings.resource_url,
            keys=self.keys,
            revocations=self.revocations,
            leeway_seconds=self.settings.clock_leeway_seconds,
            read_only_mode=self.settings.read_only,
        )

    async def run(self) -> None:
        """Discover the issuer (retrying until it answers), then poll its keys and revocations forever."""
        while True:
            try:
                endpoints = await discover(self.settings.issuer_url, self.client)
                break
            except IssuerUnavailable:
                await anyio.sleep(1.0)  # tokens are refused meanwhile: there are no keys yet
        self.keys.url = self.settings.jwks_url or endpoints.jwks_url
        with contextlib.suppress(IssuerUnavailable):  # if it fails, the first unknown kid refreshes again
            await self.keys.refresh()
        async with anyio.create_task_group() as pollers:
            pollers.start_soon(self.keys.poll)
            if self.revocations is not None and endpoints.revocation_list_url is not None:
                self.revocations.url = endpoints.revocation_list_url
                pollers.start_soon(self.revocations.poll)
            # With no list URL the revocation list is never fresh: every token is refused, as asked.


async def _healthz(_: Request) -> Response:
    """Liveness for the gateway's health checks: says nothing but that the process serves HTTP."""
    return Response(b"ok", media_type="text/plain")


def _json_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> ASGIApp:
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
            await _json_response(400, body)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HostOriginGuard:
    """Host and Origin allow-lists on every request and every path, before authentication.

    The SDK checks them inside its transport, after the token; checking first means a page served
    from a rebinding domain learns nothing, not even whether a token would have been accepted.
    """

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app = app
        self.checker = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await self.checker.validate_request(Request(scope), is_post=False)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HttpGate:
    """Per-tenant rate limit and step-up scope challenge for authenticated MCP requests."""

    def __init__(self, app: ASGIApp, *, rules: Mapping[str, ToolRule], settings: ServerSettings) -> None:
        self.app = app
        self.rules = dict(rules)
        self.settings = settings
        self.max_body = settings.max_body_bytes
        self.offers = settings.offers_tool
        self.metadata_url = str(build_resource_metadata_url(AnyHttpUrl(settings.resource_url)))
        # This server's own reading scope: not audit:read or :approve, which only auditors and approvers need.
        self.initial_scope = reading_scope(settings.server_name)
        self.server_scopes = frozenset(rule.scope for rule in self.rules.values())
        self.limit = parse_rate_limit(settings.rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not isinstance(user, AuthenticatedUser):
            await self._unauthorized(scope, receive, send)
            return
        try:
            identity = identity_from_claims(user.access_token.claims or {}, read_only_mode=self.settings.read_only)
        except IdentityError:
            await self.app(scope, receive, send)
            return
        if not await self.limiter.hit(self.limit, "tenant", identity.tenant_id):
            await self._too_many_requests(identity.tenant_id, scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive, self.max_body)
        if not complete:
            await _json_response(413, {"error": "request body too large"})(scope, receive, send)
            return
        needed = self._scope_needed(body)
        if needed is None and (unreadable := unreadable_tool_call(body)) is not None:
            # The SDK will answer a parse error; the call still leaves its record (`shared.audit_unreadable`).
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
        await self.app(scope, _replay(body, receive), send)

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
        return _json_response(403, {"error": "insufficient_scope", "scope": scopes}, {"WWW-Authenticate": challenge})

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
        await _json_response(401, body, {"WWW-Authenticate": challenge})(scope, receive, send)

    async def _record_refusal(
        self, identity: Identity, tool: str, arguments: dict[str, Any], *, detail: str, attribution: Attribution
    ) -> None:
        """The audit record of a tool call refused here (missing scope, or unparseable by the SDK), as the
        tool gate would write it.

        A failure to record is logged, not answered: the call is refused either way, and nothing ran.
        """
        state = running_state(self.settings)
        rule = self.rules.get(tool)
        call = CallAudit(
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
        await _json_response(429, body, {"Retry-After": str(retry_after)})(scope, receive, send)


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


def build_http_app(
    server: MCPServer[Any], *, settings: ServerSettings, issuer: Issuer, rules: Mapping[str, ToolRule]
) -> ASGIApp:
    """The ASGI app serving `server` at `/mcp` as a resource server (see the module docstring)."""
    settings.check_http_exposure()
    security = transport_security(settings)
    sdk_app = server.streamable_http_app(
        streamable_http_path="/mcp",
        max_request_body_size=settings.max_body_bytes,
        session_idle_timeout=settings.session_idle_timeout_seconds,
        max_sessions=settings.max_sessions,
        transport_security=security,
        host=settings.host,
    )
    SessionQuota(per_tenant=settings.max_sessions_per_tenant, per_user=settings.max_sessions_per_user).install(
        server.session_manager
    )
    scopes = sorted({rule.scope for rule in rules.values()})
    metadata_routes = create_protected_resource_routes(
        resource_url=AnyHttpUrl(settings.resource_url),
        # A plain string: AnyHttpUrl would add a trailing slash and no longer equal the issuer.
        authorization_servers=[settings.issuer_url],  # type: ignore[list-item]
        scopes_supported=scopes,
        resource_name=f"supplychain {server.name}",
    )
    metadata_paths = {route.path for route in metadata_routes}
    routes: list[Route | Mount] = [*metadata_routes, Route("/healthz", _healthz, methods=["GET"])]
    for route in sdk_app.router.routes:
        if isinstance(route, Route) and route.path == "/mcp":
            route.app = HttpGate(route.app, rules=rules, settings=settings)
        if not (isinstance(route, Route) and route.path in metadata_paths):  # ours lists the scopes
            routes.append(route)  # type: ignore[arg-type]
    sdk_app.router.routes = routes  # type: ignore[assignment]

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        # The session manager (and with it the server's engine) outlives the background polling, so
        # stopping the poller never cancels the database teardown.
        async with server.session_manager.run():
            async with anyio.create_task_group() as background:
                background.start_soon(issuer.run)
                yield
                background.cancel_scope.cancel()
            await issuer.client.aclose()

    # Ours replaces the SDK app's lifespan (it runs the same session manager), so no second Starlette
    # app has to wrap the SDK's just to hold it: one router and one error middleware less per request.
    sdk_app.router.lifespan_context = lifespan
    # Outermost, so every answer (refusals included) carries X-Request-Id and every log record its id;
    # around it only the header trimming, so every check reads the values HTTP means.
    return TrimmedHeaderValues(RequestIdMiddleware(TokenInQueryGuard(HostOriginGuard(sdk_app, security))))
