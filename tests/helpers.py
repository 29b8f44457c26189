"""Builders the tests share: identities, in-memory MCP clients, approval answers, database reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client
from mcp_types import ElicitResult
from sqlalchemy import text

from fixtures.tenants import USERS
from shared.admin import admin_engine
from shared.audit import BrokenLink, verify_chains
from shared.identity import Identity, identity_from_roles
from shared.servers import load_settings, server_module


def identity(user: str, *, read_only: bool = False) -> Identity:
    """The identity of a fixture user (e.g. `alice@acme`), scopes from the user's roles."""
    tenant, roles = USERS[user]
    return identity_from_roles(tenant_id=tenant, user_id=user, roles=frozenset(roles), read_only_mode=read_only)


class Human:
    """Answers approval questions the way it is told to, and remembers what it was asked."""

    def __init__(self, action: str = "accept", approve: bool = True) -> None:
        self.action = action
        self.approve = approve
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"approve": self.approve})
        return ElicitResult(action=self.action)


@asynccontextmanager
async def mcp_client(
    server: str, user: str | Identity, *, human: Human | None = None, mode: str = "auto", read_only: bool = False
) -> AsyncIterator[Client]:
    """An in-memory MCP client connected to a fresh `server` acting as `user` (a fixture user or an identity).

    With `human=None` the client declares no elicitation capability, like a client that cannot ask.
    """
    settings = load_settings(server, **({"read_only": True} if read_only else {}))
    caller = identity(user, read_only=read_only) if isinstance(user, str) else user
    built = server_module(server).build_server(settings, local_identity=caller)
    async with Client(built, mode=mode, elicitation_callback=human) as client:
        yield client


async def admin_rows(admin_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql` read with the admin credential (bypassing row-level security)."""
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql), params)]
    finally:
        await engine.dispose()


async def verify_audit(admin_url: str, schema: str) -> tuple[int, list[BrokenLink]]:
    """`audit verify`'s own walk of every chain in `schema`: records checked, broken links."""
    engine = admin_engine(admin_url)
    try:
        return await verify_chains(engine, schema)
    finally:
        await engine.dispose()


async def snapshot(admin_url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every domain table in `schema`, sorted: compare two snapshots to prove nothing changed.

    The audit log is left out: every call, refused ones included, is meant to add to it. The
    idempotency keys are in: a refused call or a replay must not write one either.
    """
    tables = await admin_rows(
        admin_url,
        "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'audit_log' ORDER BY tablename",
        s=schema,
    )
    return {name: sorted(await admin_rows(admin_url, f"SELECT * FROM {schema}.{name}"), key=repr) for (name,) in tables}


def without_approvals(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """A `snapshot` minus the pending approvals: what a deferred (out-of-band) call must leave unchanged."""
    return {name: rows for name, rows in tables.items() if name != "pending_approvals"}


def pending_approval_id(result: Any) -> str:
    """The approval id of a side-effecting call deferred because the client could not ask a human."""
    assert result.is_error is False, result.content
    assert result.structured_content is not None and result.structured_content["status"] == "pending"
    assert "supplychain approvals approve" in result.content[0].text
    return str(result.structured_content["approval_id"])


HOSTILE_STRINGS = [
    "'; DROP TABLE inventory.reorders; --",
    "x' OR '1'='1",
    "1; SELECT pg_sleep(5)",
    "acme' UNION SELECT * FROM payments.payments --",
    "A" * 10_000,
    "line\nbreak\r\x00nul",
    "\u202eevil\u200b",
    "../../etc/passwd",
    "${jndi:ldap://x}",
    "",
    "NaN",
    "1e2",
    "\u0661\u0662",  # Arabic-Indic digits: int() and Decimal() accept them
]
