"""What a tool receives about its caller, injected by the SDK's `Resolve`, never from arguments.

A tool declares `caller: CallerDep` and gets the verified identity plus a way to open a tenant
transaction. The model cannot see or set either: resolved parameters are not in the input schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, cast

import asyncpg
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import AcceptedElicitation, Context, Resolve
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from securemcp.audit.checkpoints import checkpointing
from securemcp.audit.export import configure_export
from securemcp.errors import SupplyChainError
from securemcp.identity.principal import Identity, IdentityError
from securemcp.identity.verified import identity_of_token
from securemcp.observability.telemetry import configure_telemetry
from securemcp.policy import RolePolicy
from securemcp.runtime.unit_of_work import current_call
from securemcp.settings import ServerSettings, approval_url
from securemcp.tenancy.database import create_engine, tenant_reads, tenant_transaction
from securemcp.tenancy.reads import ReadStatement, RowT, fetch_all, fetch_one


@dataclass(frozen=True)
class ServerState:
    """Per-process state a server's lifespan yields: its engine and, over stdio only, the local identity."""

    engine: AsyncEngine
    policy: RolePolicy
    local_identity: Identity | None = None
    read_only: bool = False
    name: str = ""
    idempotency_ttl_hours: int = 24
    approvals_url: str = ""  # this server's approval page list (`securemcp.settings.approval_url`)
    person_claim: str = "sub"  # the claim that names a person across clients (`securemcp.identity.principal.person_id`)

    @property
    def transport(self) -> str:
        """'stdio' when a local identity is configured (phase 1), else 'http'."""
        return "stdio" if self.local_identity is not None else "http"


# The state of each running server, by its settings object: the HTTP layer in front of the MCP layer
# (`securemcp.http.gate.HttpGate`) records its refusals through the same engine.
_RUNNING: dict[int, ServerState] = {}


def running_state(settings: ServerSettings) -> ServerState | None:
    """The state of the server built from `settings` while its lifespan runs; None otherwise."""
    return _RUNNING.get(id(settings))


def server_lifespan(
    settings: ServerSettings, local_identity: Identity | None
) -> Callable[[Any], AbstractAsyncContextManager[ServerState]]:
    """The MCP server lifespan: one engine and pool for the process, disposed at shutdown."""

    approvals_url = approval_url(settings)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[ServerState]:
        configure_telemetry()
        configure_export(settings.audit_export, transport="stdio" if local_identity is not None else "http")
        engine = create_engine(
            settings.resolved_database_url(), pool_size=settings.pool_size, pool_timeout=settings.pool_timeout_seconds
        )
        state = ServerState(
            engine=engine, policy=settings.policy, local_identity=local_identity, read_only=settings.read_only,
            name=settings.server_name,
            idempotency_ttl_hours=settings.idempotency_ttl_hours, approvals_url=approvals_url,
            person_claim=settings.person_claim,
        )  # fmt: skip
        _RUNNING[id(settings)] = state
        try:
            # Signed chain heads outside the database, in the background and at clean shutdown.
            async with checkpointing(settings.server_name, engine, transport=state.transport):
                yield state
        finally:
            _RUNNING.pop(id(settings), None)
            await engine.dispose()

    return lifespan


@dataclass(frozen=True)
class Caller:
    """The verified caller of one tool call and the database it may touch."""

    identity: Identity
    engine: AsyncEngine
    schema: str = ""
    approvals_url: str = ""

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """The call's tenant transaction; its audit record is added and both commit when the call ends.

        See `securemcp.audit.records`: every use within one tool call shares the same transaction.
        """
        call = current_call()
        if call is None:  # outside the tool gate (scripts, tests of services): a plain transaction
            return tenant_transaction(self.engine, self.identity)
        return call.transaction(self.engine)

    def reading(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The call's tenant transaction on the driver, for `securemcp.tenancy.reads` (see `transaction`)."""
        call = current_call()
        if call is None:
            return tenant_reads(self.engine, self.identity)
        return call.reading(self.engine)

    async def read_one(self, statement: ReadStatement[RowT], **values: Any) -> RowT | None:
        """The first row `statement` finds for this caller's tenant, or None (`securemcp.tenancy.reads`)."""
        async with self.reading() as connection:
            return await fetch_one(connection, statement, self.identity.tenant_id, values)

    async def read_all(self, statement: ReadStatement[RowT], **values: Any) -> list[RowT]:
        """Every row `statement` finds for this caller's tenant (`securemcp.tenancy.reads`)."""
        async with self.reading() as connection:
            return await fetch_all(connection, statement, self.identity.tenant_id, values)

    def lookup(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A short read transaction of its own, committed at once: for approval questions, which
        must not hold the call's transaction open while a human decides."""
        return tenant_transaction(self.engine, self.identity)


def current_identity(state: ServerState) -> Identity:
    """The caller of the current request: the verified token over HTTP, the local identity over stdio.

    Fails closed: with neither, nobody is calling and the request is refused.
    """
    token = get_access_token()
    if token is not None:
        return identity_of_token(token, state.policy, read_only_mode=state.read_only, person_claim=state.person_claim)
    if state.local_identity is not None:
        return state.local_identity
    raise IdentityError("no authenticated caller")


async def resolve_caller(ctx: Context) -> Caller:
    """`Resolve` hook: the caller of this tool call.

    Async although it never awaits: the SDK runs a plain function resolver in a worker thread, a
    thread hop on every call (profiled by `supplychain bench`).
    """
    state = cast(ServerState, ctx.request_context.lifespan_context)
    try:
        return Caller(
            identity=current_identity(state), engine=state.engine, schema=state.name, approvals_url=state.approvals_url
        )
    except IdentityError as exc:
        raise SupplyChainError(f"refused: {exc}") from None


CallerDep = Annotated[Caller, Resolve(resolve_caller)]

# The SDK wraps each resolved value in `AcceptedElicitation[Any]`, and pydantic caches parametrized
# classes only weakly: without this reference the class is rebuilt (~0.1 ms) on many calls (profiled
# by `supplychain bench`).
_RESOLVED_VALUE_CLASS = AcceptedElicitation[Any]
