"""Phase 1: one server's approval pages on their own, for a server that runs over stdio.

`supplychain approvals serve <server>` serves only that server's pages, on loopback, at the address its
stdio process puts in pending approvals (`http://127.0.0.1:<the server's port>/approvals/...`), with the
server's own database credential and the same sign-in, cookies, headers and Host/Origin checks as in
phase 2. Nothing else is served: no MCP endpoint, no other server's pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.types import ASGIApp

from securemcp.approvals.pages.app import pages_routes
from securemcp.approvals.pages.config import pages_config
from securemcp.approvals.pending import ApprovableTool, register_executors
from securemcp.http.guards import HostOriginGuard, pages_transport_security
from securemcp.http.header_values import TrimmedHeaderValues
from securemcp.observability.request_id import RequestIdMiddleware
from securemcp.settings import ServerSettings
from securemcp.tenancy.database import create_engine


def standalone_app(settings: ServerSettings, executors: Mapping[str, ApprovableTool]) -> ASGIApp:
    """The pages of the server `settings` describe, with a database engine of their own.

    `executors` run the server's side effects once decided (`securemcp.gate.tool_table.approval_executors`).
    """
    settings.check_http_exposure()
    register_executors(settings.server_name, executors)
    engine: list[AsyncEngine] = []

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        engine.append(create_engine(settings.resolved_database_url(), pool_size=2))
        try:
            yield
        finally:
            await engine.pop().dispose()

    pages = pages_routes(pages_config(settings), lambda: engine[0] if engine else None)
    app = Starlette(routes=pages, lifespan=lifespan)
    security = pages_transport_security(settings)
    return TrimmedHeaderValues(RequestIdMiddleware(HostOriginGuard(app, security, security)))


def serve_pages(settings: ServerSettings, executors: Mapping[str, ApprovableTool]) -> None:
    """Serve the pages with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(
        standalone_app(settings, executors),
        host=settings.host,
        port=settings.listen_port,
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
        log_level="warning",
        log_config=None,  # through our logging: JSON and redaction
        server_header=False,
        proxy_headers=False,
    )
