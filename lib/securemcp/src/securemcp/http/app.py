"""Phase 2: a server as an OAuth 2.1 resource server over Streamable HTTP.

`build_http_app` takes the SDK's Streamable HTTP app (which already does RFC 9728 metadata, 401
challenges, the RFC 8707 audience check, Host/Origin validation, the body limit and legacy session
ids bound to the token's principal) and adds what the SDK leaves to us, each visible here:

- `SessionQuota` (`securemcp.http.sessions`): caps on open legacy sessions per tenant and per user;
- `RequestIdMiddleware` (`securemcp.observability.request_id`): each request's id, in the logs and the `X-Request-Id`
  response header;
- `TokenInQueryGuard` (`securemcp.http.guards`): `?access_token=`, in any percent-encoded spelling, is
  refused with 400 on every path (tokens only in headers), and the query is blanked in the request
  scope first, so an access log does not record the token;
- `HostOriginGuard` (`securemcp.http.guards`): the Host and Origin allow-lists on every path, before
  authentication (421/403); the approval pages also accept the server's own Origin, `/mcp` never;
- `HttpGate` (`securemcp.http.gate`), after authentication, on the MCP endpoint:
  - the 401 challenge, carrying the server's reading scope as the `scope` to ask for first;
  - a per-tenant rate limit keyed on the *verified* tenant (429 with `Retry-After`), so one tenant's
    flood leaves the others alone;
  - the audit records of what it refuses (429, 413) and of the `tools/call` requests the SDK refuses
    before dispatch, aggregated per tenant, reason and minute (`securemcp.http.refusals`);
  - the step-up challenge: a `tools/call` whose scope the token lacks but the caller's roles allow
    gets 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="<held> <needed>", ...`:
    the scopes the token already holds on this server plus the one needed (MCP 2025-11-25), so a
    client that re-authorizes with exactly that list keeps what it had. Every scope in it is re-derived
    from the roles (`deployment.policy`), so a challenge never asks for more than they allow; a scope the
    roles do not allow is not challenged (re-authorizing cannot help) and the tool gate refuses the call
    with its JSON-RPC scope error. Since the MCP layer never sees a challenged call, the gate writes its
    audit record itself, through the running server's engine (`securemcp.runtime.caller.running_state`);
- metadata that lists the scopes this server understands;
- `GET /healthz` for the gateway's health checks: unauthenticated, and it says only "ok";
- the approval pages under `/approvals` (`securemcp.approvals.pages`), where signed-in people decide approvals;
- metadata that lists every trusted issuer in `authorization_servers` (`Issuer`);
- each trusted issuer's keys (re-read every `KEY_REFRESH_SECONDS`) and revocation list, fetched in the
  background for the life of the app, each issuer on its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.mcpserver import MCPServer
from pydantic import AnyHttpUrl
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from securemcp.approvals.pages.app import pages_routes
from securemcp.approvals.pages.config import pages_config
from securemcp.gate.tool_gate import ToolRule
from securemcp.http.gate import HttpGate
from securemcp.http.guards import HostOriginGuard, TokenInQueryGuard, pages_transport_security, transport_security
from securemcp.http.header_values import TrimmedHeaderValues
from securemcp.http.refusals import RefusalLog
from securemcp.http.sessions import SessionQuota
from securemcp.identity.issuers import TrustedIssuer
from securemcp.identity.issuers_file import sign_in_issuer, trusted_issuers_of
from securemcp.identity.keys import IssuerUnavailable, KeySet
from securemcp.identity.tokens import IssuerState, JWTVerifier, RevocationList, discover
from securemcp.observability.request_id import RequestIdMiddleware
from securemcp.runtime.caller import running_state
from securemcp.settings import ServerSettings

# The guards live in `securemcp.http.guards` and the gate in `securemcp.http.gate`; these names stay importable here.
__all__ = ["HostOriginGuard", "HttpGate", "Issuer", "TokenInQueryGuard", "build_http_app", "transport_security"]

logger = logging.getLogger(__name__)


class Issuer:
    """The trusted authorization servers as a resource server sees them: each one's keys and revocations,
    kept fresh apart, so one issuer's outage leaves the others' tokens alone.

    The table comes from the trusted-issuers file (`securemcp.identity.issuers_file`) or, without one, is
    ISSUER_URL alone speaking for any tenant. The approval pages sign people in at the issuer bound to the
    approval's tenant, else at ISSUER_URL, which a file must therefore list.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.client = httpx2.AsyncClient(timeout=5.0, follow_redirects=False)
        self.trusted = trusted_issuers_of(settings)
        self.pages_issuer = pages_issuer = sign_in_issuer(settings, self.trusted)
        self.states = [self._state_of(trusted) for trusted in self.trusted]
        pages_state = next(state for state in self.states if state.trusted is pages_issuer)
        # The pages' issuer's: what a page decision re-checks the requester's token against.
        self.keys, self.revocations = pages_state.keys, pages_state.revocations

    def revocations_for(self, tenant: str) -> RevocationList | None:
        """The revocation list of the issuer speaking for `tenant`: where its people's tokens are revoked, so a
        page decision re-checks a requester's token there (and another issuer's outage does not hold it up)."""
        bound = self.trusted.speaking_for(tenant)
        if bound is None:
            # No issuer speaks for the tenant now (the file changed under a live session): a list never
            # fetched is never fresh, so the decision is refused rather than run without the check.
            return RevocationList("", self.client, max_staleness_seconds=self.settings.revocation_staleness_seconds)
        return next((state.revocations for state in self.states if state.trusted is bound), None)

    def _state_of(self, trusted: TrustedIssuer) -> IssuerState:
        settings = self.settings
        configured_jwks = trusted.jwks_url or (settings.jwks_url if trusted.issuer == settings.issuer_url else None)
        keys = KeySet(configured_jwks or "", self.client, refresh_interval_seconds=settings.key_refresh_seconds,
                      algorithms=trusted.algorithms)  # fmt: skip
        revocation = trusted.revocation or settings.revocation
        revocations = (
            RevocationList("", self.client, max_staleness_seconds=settings.revocation_staleness_seconds)
            if revocation == "list"
            else None
        )
        return IssuerState(trusted=trusted, keys=keys, revocations=revocations,
                           audience=trusted.audience or settings.resource_url)  # fmt: skip

    def verifier(self) -> JWTVerifier:
        """The token verifier for this server's audience."""
        return JWTVerifier(
            issuers=self.states,
            resource_url=self.settings.resource_url,
            policy=self.settings.policy,
            leeway_seconds=self.settings.clock_leeway_seconds,
            read_only_mode=self.settings.read_only,
        )

    async def run(self) -> None:
        """Keep every issuer's keys and revocations fresh, each on its own, forever."""
        async with anyio.create_task_group() as issuers:
            for state in self.states:
                issuers.start_soon(self._keep_fresh, state)

    async def _keep_fresh(self, state: IssuerState) -> None:
        """Discover the issuer (retrying until it answers) unless its configuration says all, then poll."""
        keys, configured_jwks = state.keys, bool(state.keys.url)
        async with anyio.create_task_group() as pollers:
            if configured_jwks:
                pollers.start_soon(_poll_keys, keys)
            if configured_jwks and state.revocations is None and keys.algorithms is not None:
                return  # nothing to discover
            failures = 0
            while True:
                try:
                    endpoints = await discover(state.trusted.issuer, self.client)
                    break
                except IssuerUnavailable as error:
                    if failures == 0:  # once per outage: the refused tokens' log lines say the rest
                        logger.warning("issuer %s: %s; retrying every second", state.trusted.issuer, error)
                    failures += 1
                    await anyio.sleep(1.0)  # tokens needing what it would tell are refused meanwhile
            keys.discovered_algorithms = endpoints.signing_algorithms
            if configured_jwks:
                with contextlib.suppress(IssuerUnavailable):  # keys without `alg` may be usable now
                    await keys.refresh()
            else:
                keys.url = endpoints.jwks_url
                pollers.start_soon(_poll_keys, keys)
            if state.revocations is not None and endpoints.revocation_list_url is not None:
                state.revocations.url = endpoints.revocation_list_url
                pollers.start_soon(state.revocations.poll)
            # With no list URL the revocation list is never fresh: every token is refused, as asked.


async def _poll_keys(keys: KeySet) -> None:
    with contextlib.suppress(IssuerUnavailable):  # if it fails, the first unknown kid refreshes again
        await keys.refresh()
    await keys.poll()


async def _healthz(_: Request) -> Response:
    """Liveness for the gateway's health checks: says nothing but that the process serves HTTP."""
    return Response(b"ok", media_type="text/plain")


def _engine_of(settings: ServerSettings) -> AsyncEngine | None:
    state = running_state(settings)
    return state.engine if state is not None else None


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
        # Every trusted issuer: a client may use any of them (MCP authorization, several authorization
        # servers). Plain strings: AnyHttpUrl would add a trailing slash and no longer equal the issuer.
        authorization_servers=issuer.trusted.urls,  # type: ignore[arg-type]
        scopes_supported=scopes,
        resource_name=f"supplychain {server.name}",
    )
    metadata_paths = {route.path for route in metadata_routes}
    # A page decision re-checks the requester's token and grant against the list this server polls.
    pages = pages_routes(pages_config(settings, issuer.trusted), lambda: _engine_of(settings), issuer.revocations_for)
    routes: list[BaseRoute] = [*metadata_routes, Route("/healthz", _healthz, methods=["GET"]), *pages]
    refusals = RefusalLog(settings.server_name, lambda: _engine_of(settings))
    for route in sdk_app.router.routes:
        if isinstance(route, Route) and route.path == "/mcp":
            route.app = HttpGate(route.app, rules=rules, settings=settings, refusals=refusals)
        if not (isinstance(route, Route) and route.path in metadata_paths):  # ours lists the scopes
            routes.append(route)
    sdk_app.router.routes = routes

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
            await refusals.close()  # the summaries of the minutes still open, while the engine runs

    # Ours replaces the SDK app's lifespan (it runs the same session manager), so no second Starlette
    # app has to wrap the SDK's just to hold it: one router and one error middleware less per request.
    sdk_app.router.lifespan_context = lifespan
    # Outermost, so every answer (refusals included) carries X-Request-Id and every log record its id;
    # around it only the header trimming, so every check reads the values HTTP means.
    pages_security = pages_transport_security(settings)
    return TrimmedHeaderValues(
        RequestIdMiddleware(TokenInQueryGuard(HostOriginGuard(sdk_app, security, pages_security)))
    )
