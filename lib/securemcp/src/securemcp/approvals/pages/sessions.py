"""The approval pages' sessions, kept on the server: the cookie holds only a random session id.

Guarantees:
- a session is a row of `<schema>.page_sessions` keyed by the SHA-256 of the cookie's value; the row,
  not the cookie, names the person, their sign-in time and the session's CSRF token;
- signing out deletes the row, so every copy of the cookie stops working at once; `end_page_sessions`
  deletes every session of a person (for incident containment), on every replica at once;
- a session ends `SESSION_SECONDS` after its sign-in whatever the cookie says;
- the cookie is `__Host-` over https when the pages own the origin's root path's cookies (`Path=/`), and
  `__Secure-` behind the gateway, where the origin is shared by every server and the cookie is kept to
  `/<server>/approvals` (a `__Host-` cookie must be `Path=/`, which would send it to every server).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from securemcp.approvals.pages.config import PagesConfig
from securemcp.approvals.pages.signin import SignedIn
from securemcp.identity.principal import Identity
from securemcp.schema.names import schema_name
from securemcp.settings import PAGES_PATH
from securemcp.tenancy.database import tenant_transaction

SESSION_SECONDS = 60 * 60  # a decision needs a far fresher sign-in anyway
COOKIE_BASE = "supplychain_approvals_"  # + the server: cookies ignore ports, so names keep them apart
_SET_SESSION = "SELECT set_config('app.page_session', :h, true)"


@dataclass(frozen=True)
class PageSession:
    """A signed-in person on the pages, as the server keeps them."""

    person: SignedIn
    csrf_token: str


@dataclass(frozen=True)
class SessionCookie:
    """The session cookie's name and attributes for one server's pages."""

    name: str
    path: str
    secure: bool


def session_cookie(config: PagesConfig) -> SessionCookie:
    """`__Host-` over https at the origin's own `/approvals`; `__Secure-` under a gateway prefix; plain over http."""
    name = COOKIE_BASE + config.server
    if config.secure and config.cookie_path == PAGES_PATH:
        return SessionCookie(f"__Host-{name}", "/", secure=True)
    if config.secure:
        return SessionCookie(f"__Secure-{name}", config.cookie_path, secure=True)
    return SessionCookie(name, config.cookie_path, secure=False)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _owner(tenant_id: str, user_id: str) -> Identity:
    return Identity(tenant_id=tenant_id, user_id=user_id, roles=frozenset(), scopes=frozenset())


async def start_page_session(engine: AsyncEngine, *, schema: str, person: SignedIn) -> tuple[str, PageSession]:
    """A new session for `person`: (the cookie's value, the session). Their tenant's ended sessions are removed."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    schema = schema_name(schema)
    now = datetime.now(UTC)
    async with tenant_transaction(engine, _owner(person.tenant_id, person.user_id)) as db:
        connection = await db.connection()
        await connection.execute(
            text(f"DELETE FROM {schema}.page_sessions WHERE tenant_id = :t AND expires_at <= now()"),  # noqa: S608
            {"t": person.tenant_id},
        )
        await connection.execute(
            text(
                f"INSERT INTO {schema}.page_sessions (id_sha256, tenant_id, user_id, person_id, roles, auth_time, "  # noqa: S608
                "csrf_token, created_at, expires_at) VALUES (:h, :t, :u, :p, CAST(:roles AS jsonb), :auth, :csrf, "
                ":now, :expires)"
            ),
            {
                "h": _digest(session_id), "t": person.tenant_id, "u": person.user_id, "p": person.person_id,
                "roles": json.dumps(sorted(person.roles)), "auth": person.auth_time, "csrf": csrf, "now": now,
                "expires": now + timedelta(seconds=SESSION_SECONDS),
            },
        )  # fmt: skip
    return session_id, PageSession(person, csrf)


async def load_page_session(engine: AsyncEngine, *, schema: str, session_id: str | None) -> PageSession | None:
    """The live session a cookie names, or None (no cookie, signed out, ended, expired, or never issued)."""
    if not session_id or len(session_id) > 128:
        return None
    schema = schema_name(schema)
    async with engine.begin() as connection:
        # Row-level security shows only the row whose id hash this transaction names.
        await connection.execute(text(_SET_SESSION), {"h": _digest(session_id)})
        row = (
            await connection.execute(
                text(
                    f"SELECT user_id, tenant_id, roles, auth_time, person_id, csrf_token FROM {schema}.page_sessions "  # noqa: S608
                    "WHERE id_sha256 = :h AND expires_at > now()"
                ),
                {"h": _digest(session_id)},
            )
        ).first()
    if row is None:
        return None
    user_id, tenant_id, roles, auth_time, person_id, csrf = row
    return PageSession(SignedIn(user_id, tenant_id, frozenset(roles), auth_time, person_id), csrf)


async def end_page_session(engine: AsyncEngine, *, schema: str, session_id: str | None) -> None:
    """Sign out: delete the session a cookie names, so no copy of that cookie opens the pages again."""
    if not session_id or len(session_id) > 128:
        return
    schema = schema_name(schema)
    async with engine.begin() as connection:
        await connection.execute(text(_SET_SESSION), {"h": _digest(session_id)})
        await connection.execute(
            text(f"DELETE FROM {schema}.page_sessions WHERE id_sha256 = :h"),  # noqa: S608
            {"h": _digest(session_id)},
        )


async def end_page_sessions(
    engine: AsyncEngine, *, schema: str, tenant_id: str, user_id: str, person_id: str | None = None
) -> int:
    """End every approval-page session of one person in `tenant_id` (by user id, or by person id when the
    IdP issues pairwise subjects); how many ended. For incident containment: a stolen page cookie dies."""
    schema = schema_name(schema)
    async with tenant_transaction(engine, _owner(tenant_id, user_id)) as db:
        result = await (await db.connection()).execute(
            text(
                f"DELETE FROM {schema}.page_sessions WHERE tenant_id = :t "  # noqa: S608
                "AND (user_id = :u OR person_id = :p)"
            ),
            {"t": tenant_id, "u": user_id, "p": person_id},
        )
    return int(result.rowcount)
