"""Builders the tests share: identities, in-memory MCP clients, approval answers, database reads."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from mcp import Client
from mcp_types import ElicitResult, TextContent
from securemcp.approvals.decisions import Decider, decide, decision_transaction
from securemcp.approvals.pending import ApprovalStatus, register_executors
from securemcp.audit.chain import BrokenLink, verify_chains
from securemcp.errors import SupplyChainError
from securemcp.identity.principal import Identity, identity_from_roles
from securemcp.identity.tokens import RevocationList
from securemcp.tenancy.database import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from deployment.policy import POLICY
from deployment.registry import IDP_PORT, REGISTRY
from fixtures.tenants import USERS
from supplychain.admin import OWNER_ROLE, admin_engine
from supplychain.servers import approval_executors, load_settings, server_for


def identity(user: str, *, read_only: bool = False) -> Identity:
    """The identity of a fixture user (e.g. `alice@acme`), scopes from the user's roles."""
    tenant, roles = USERS[user]
    return identity_from_roles(
        policy=POLICY, tenant_id=tenant, user_id=user, roles=frozenset(roles), read_only_mode=read_only
    )


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
    built = server_for(settings, local_identity=caller)
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


async def admin_execute(admin_url: str, sql: str, **params: Any) -> None:
    """Run `sql` with the admin credential and commit: another writer changing a row behind the servers' backs."""
    engine = admin_engine(admin_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql), params)
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

    The audit log is left out: every call, refused ones included, is meant to add to it; so are the
    approval pages' sessions, which every sign-in adds to. The idempotency keys are in: a refused call or
    a replay must not write one either.
    """
    tables = await admin_rows(
        admin_url,
        "SELECT tablename FROM pg_tables WHERE schemaname = :s "
        "AND tablename NOT IN ('audit_log', 'page_sessions') ORDER BY tablename",
        s=schema,
    )
    return {name: sorted(await admin_rows(admin_url, f"SELECT * FROM {schema}.{name}"), key=repr) for (name,) in tables}


def without_approvals(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """A `snapshot` minus the pending approvals: what a deferred (out-of-band) call must leave unchanged."""
    return {name: rows for name, rows in tables.items() if name != "pending_approvals"}


def pending_approval_id(result: Any) -> str:
    """The approval id of a side-effecting call answered with a pending approval (and its page URL)."""
    assert result.is_error is False, result.content
    assert result.structured_content is not None and result.structured_content["status"] == "pending"
    approval_id = str(result.structured_content["approval_id"])
    # The page's URL names the approval's tenant: where the person is sent to sign in (home-realm discovery).
    assert re.search(rf"/approvals/{approval_id}\?tenant=[a-z][a-z0-9-]+$", result.structured_content["url"])
    assert f"Decide it at {result.structured_content['url']} " in result.content[0].text
    return approval_id


class PagePerson:
    """Stands in for the browser: shown a URL elicitation, decides on the page as `user`, then says accept.

    Any form question gets a yes, which must never count for a verified or four_eyes call.
    """

    def __init__(
        self, server_urls: dict[str, str], server: str, user: str, decision: Literal["approve", "deny"] = "approve"
    ) -> None:
        self.server_urls, self.server, self.user, self.decision = server_urls, server, user, decision
        self.requests: list[Any] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.requests.append(params)
        if getattr(params, "mode", None) != "url":
            return ElicitResult(action="accept", content={"approve": True})
        approval_id = urlsplit(params.url).path.rsplit("/", 1)[1]
        await decide_as(self.server_urls, self.server, decider(self.user), approval_id, self.decision)
        return ElicitResult(action="accept")


def decider(user: str, *, signed_in_ago: timedelta = timedelta(seconds=5), tenant: str | None = None) -> Decider:
    """A fixture user signed in on the approval page `signed_in_ago` (roles from the fixtures, as the ID token)."""
    home, roles = USERS[user]
    return Decider(
        tenant_id=tenant or home, user_id=user, roles=frozenset(roles), auth_time=datetime.now(UTC) - signed_in_ago,
        allowed_scopes=POLICY.scopes_for_known_roles(roles),
    )  # fmt: skip


async def _signed_in_at_the_requesters_issuer(
    session: AsyncSession, server: str, who: Decider, approval_id: str
) -> Decider:
    """`who` as the approval page knows them after signing in at the dev IdP: a person id made of the
    issuer that signed the requester's token and `sub` (the default person claim), which the dev IdP
    sets to the user id. A decider built with its own person id is left as it is."""
    if who.person_id is not None:
        return who
    row = (
        await (await session.connection()).execute(
            text(f"SELECT requested_by_person FROM {server}.pending_approvals WHERE id = :id"),
            {"id": approval_id},
        )
    ).first()
    if row is None or row[0] is None:
        return who
    issuer = str(row[0]).rsplit(" sub=", 1)[0]
    return dataclasses.replace(who, person_id=f"{issuer} sub={who.user_id}")


async def decide_as(
    server_urls: dict[str, str],
    server: str,
    who: Decider,
    approval_id: str,
    decision: Literal["approve", "deny"],
    revocations: RevocationList | None = None,
) -> ApprovalStatus:
    """What the approval page does on POST: `decide` in a tenant transaction, with the server's own credential."""
    # The page runs inside the server process, whose `build_server` registered the executors; here, the test does.
    register_executors(server, approval_executors(load_settings(server)))
    engine = create_engine(server_urls[server])
    try:
        async with decision_transaction(engine, who) as session:
            who = await _signed_in_at_the_requesters_issuer(session, server, who, approval_id)
            return await decide(
                session, schema=server, decider=who, approval_id=approval_id, decision=decision,
                revocations=revocations,
            )  # fmt: skip
    finally:
        await engine.dispose()


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


# Another person of each tenant who may decide four-eyes approvals (as a company IdP's ID token would say).
DECIDERS = {"acme": "priya@acme", "globex": "grace@globex"}


@dataclass
class Decided:
    """A side effect's outcome once approved on the page, shaped like the tool result it stands for."""

    is_error: bool
    structured_content: dict[str, Any] | None
    content: list[TextContent]


async def on_the_page(server_urls: dict[str, str], server: str, result: Any) -> Any:
    """`result` if it is not a pending approval; otherwise approve it on the page as another person of the
    tenant (four eyes) or its requester, and return what the tool would have returned (or its refusal)."""
    status = None if result.is_error else result.structured_content
    if not status or "approval_id" not in status or "level" not in status:
        return result
    if status["status"] == "pending":
        tenant = USERS[status["requested_by"]][0]
        user = DECIDERS[tenant] if status["level"] == "four_eyes" else status["requested_by"]
        who = (
            decider(user)
            if user in USERS
            else Decider(
                tenant_id=tenant,
                user_id=user,
                roles=frozenset({"approver"}),
                auth_time=datetime.now(UTC),
                allowed_scopes=POLICY.scopes_for_known_roles({"approver"}),
            )
        )
        try:
            decided = await decide_as(server_urls, server, who, status["approval_id"], "approve")
        except SupplyChainError as refused:
            text = f"Error executing tool {status['tool']}: {refused}"
            return Decided(is_error=True, structured_content=None, content=[TextContent(type="text", text=text)])
        outcome = decided.model_dump(mode="json")["result"]
    elif status["status"] == "executed":
        outcome = status["result"]
    else:
        return result
    return Decided(
        is_error=False, structured_content=outcome, content=[TextContent(type="text", text=json.dumps(outcome))]
    )


@asynccontextmanager
async def fresh_database(admin_url: str, prefix: str, schemas: Iterable[str]) -> AsyncIterator[AsyncEngine]:
    """A new, empty database holding `schemas` owned as `db init` owns them; dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = admin_engine(admin_url)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = admin_engine(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        try:
            async with engine.connect() as conn:
                for schema in schemas:
                    await conn.execute(text(f"CREATE SCHEMA {schema} AUTHORIZATION {OWNER_ROLE}"))
            yield engine
        finally:
            await engine.dispose()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


# Running a server as Claude Desktop does: a stdio subprocess with a local identity from its environment.


def serve_command(server: str) -> list[str]:
    """`supplychain serve <server> --transport stdio` in this interpreter."""
    return [sys.executable, "-m", "supplychain.cli", "serve", server, "--transport", "stdio"]


def local_identity(user: str) -> dict[str, str]:
    """The phase 1 identity of a fixture user: its tenant and roles as the server reads them at start."""
    tenant, roles = USERS[user]
    return {"SUPPLYCHAIN_TENANT": tenant, "SUPPLYCHAIN_USER": user, "SUPPLYCHAIN_ROLES": ",".join(roles)}


def stdio_env(**extra: str) -> dict[str, str]:
    """This test session's environment without its `SUPPLYCHAIN_*` settings, plus its home and `extra`."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    return {**base, "SUPPLYCHAIN_HOME": os.environ["SUPPLYCHAIN_HOME"], **extra}


# A loopback stack placed by `--base-port`: the IdP on the base, each server at its registry distance from it.
STACK_PORTS = max(server.port for server in REGISTRY.values()) - IDP_PORT + 1


def free_port_run(count: int = STACK_PORTS) -> int:
    """A base port with `count` free consecutive ports from it (a stack placed by `--base-port`)."""
    for _ in range(50):
        base = random.randint(20_000, 40_000)  # noqa: S311 (not security-relevant)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no run of free ports")
