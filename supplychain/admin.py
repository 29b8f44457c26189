"""`db init` and `db seed`: everything that needs the admin credential, and nothing a server runs.

init creates, idempotently:
- `supplychain_owner`, a NOLOGIN role that owns every schema and table;
- one login role per server (`inventory_svc`, ...) with a generated password (given to Postgres as
  its SCRAM verifier, so no statement ever holds the password; a failed step raises `AdminError`,
  which names the step and never the statement), no superuser, no
  BYPASSRLS, no DDL, a connection limit and statement/idle timeouts, allowed to connect and to use its
  own schema only; the table grants come from each server's migration;
- the schemas, then the Alembic migrations, run as the owner;
- for the embedded cluster, a `pg_hba.conf` that trusts only the local admin and asks every server
  role for its password (pgserver's default trusts everyone, which would make passwords meaningless);
- one secrets file per server (mode 0600) holding that server's DSN and nothing else, and its audit
  checkpoint signing key (`securemcp.audit.checkpoints`, mode 0600, public key beside it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path

from alembic import command
from securemcp.audit.checkpoint_keys import ensure_signing_key
from securemcp.observability.logs import redact
from securemcp.settings import secrets_dir, server_dsn_file
from securemcp.tenancy.database import async_url
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from deployment.registry import SERVERS
from migrations import META_SCHEMA
from supplychain.embedded import is_embedded, pgdata_dir
from supplychain.revisions import alembic_config, applied_revisions, known_revisions, unknown_revisions_message
from supplychain.security_upgrades import choosable_seq_message, servers_with_a_choosable_seq
from supplychain.seed_check import missing_for_fixtures, what_to_run

OWNER_ROLE = "supplychain_owner"
ROLE_SETTINGS = {"statement_timeout": "5s", "idle_in_transaction_session_timeout": "10s"}
CONNECTION_LIMIT = 40
_SAFE_PASSWORD = re.compile(r"^[A-Za-z0-9_-]{32,}$")

HBA_CONF = """\
# Written by `supplychain db init`. The local admin (postgres) is trusted over the Unix socket;
# every other role, the per-server roles included, must present its password.
local   all   postgres                 trust
local   all   all                      scram-sha-256
"""


def service_role(server: str) -> str:
    """The login role of `server`."""
    return f"{server}_svc"


def admin_engine(url: str) -> AsyncEngine:
    """An engine for admin work (autocommit: role and schema statements run one by one)."""
    return create_async_engine(async_url(url), isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)


def _server_url(admin_url: str, server: str, password: str) -> str:
    return (
        make_url(admin_url).set(username=service_role(server), password=password).render_as_string(hide_password=False)
    )


def _existing_password(server: str) -> str | None:
    try:
        url = make_url(server_dsn_file(server).read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None
    return url.password if isinstance(url.password, str) and _SAFE_PASSWORD.fullmatch(url.password) else None


class AdminError(RuntimeError):
    """A `db` command's step failed: the message names the step and the reason, never a statement."""


def scram_verifier(password: str, *, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802 and 7677).

    Roles are given this instead of the password, so the password is in no statement: a failed
    statement can surface in an exception, a traceback or the Postgres server log.
    """
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    encoded = [base64.b64encode(part).decode() for part in (salt, stored_key, server_key)]
    return f"SCRAM-SHA-256${iterations}:{encoded[0]}${encoded[1]}:{encoded[2]}"


@asynccontextmanager
async def _step(description: str) -> AsyncIterator[None]:
    """Run one admin step; a database error becomes an `AdminError` without the statement that failed."""
    try:
        yield
    except StatementError as exc:  # DBAPIError too
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise AdminError(f"db init: {description} failed: {redact(reason)}") from None


async def _ensure_roles(engine: AsyncEngine, database: str) -> dict[str, str]:
    passwords: dict[str, str] = {}
    async with _step("connecting as the admin"), engine.connect() as conn:
        async with _step(f"creating role {OWNER_ROLE}"):
            await _create_role_if_missing(conn, OWNER_ROLE, "NOLOGIN")
            await conn.execute(text(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC'))
        for server in SERVERS:
            role = service_role(server)
            password = _existing_password(server) or secrets.token_urlsafe(32)
            # Utility statements take no bind parameters; the verifier is base64 and `$:` only.
            attributes = (
                f"LOGIN PASSWORD '{scram_verifier(password)}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
                f"NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {CONNECTION_LIMIT}"
            )
            async with _step(f"setting up role {role}"):
                await _create_role_if_missing(conn, role, attributes)
                await conn.exec_driver_sql(f"ALTER ROLE {role} WITH {attributes}")
                for name, value in ROLE_SETTINGS.items():
                    await conn.execute(text(f"ALTER ROLE {role} SET {name} = '{value}'"))
                await conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {role}'))
                await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {server} AUTHORIZATION {OWNER_ROLE}"))
            passwords[server] = password
        async with _step(f"creating schema {META_SCHEMA}"):
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA} AUTHORIZATION {OWNER_ROLE}"))
    return passwords


async def _create_role_if_missing(conn: AsyncConnection, role: str, attributes: str) -> None:
    exists = await conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    if exists.first() is None:
        await conn.exec_driver_sql(f"CREATE ROLE {role} {attributes}")  # as is: a verifier holds `:`


async def run_migrations(engine: AsyncEngine) -> None:
    """Upgrade every server's branch to its head, as the owner role; `AdminError` at revisions this checkout lacks,
    or when a server's security tables predate this version's (`supplychain.security_upgrades`)."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")

    async with engine.connect() as conn:
        unknown = [name for name in await applied_revisions(conn) or [] if name not in known_revisions()]
        if unknown:  # Alembic would fail deep inside with "Can't locate revision"
            raise AdminError(f"db init: {unknown_revisions_message(unknown)}")
        # Before anything is migrated: the same revision, run before the library's DDL changed, which
        # Alembic cannot tell; refused with nothing changed, not even a new server's first revision.
        outdated = await servers_with_a_choosable_seq(conn)
        if outdated:
            raise AdminError(f"db init: {choosable_seq_message(outdated)}")
        await conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
        await conn.run_sync(upgrade)
        await conn.execute(text("RESET ROLE"))


async def _require_passwords_locally(engine: AsyncEngine) -> None:
    (pgdata_dir() / "pg_hba.conf").write_text(HBA_CONF, encoding="utf-8")
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_reload_conf()"))


def _write_secret(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content + "\n")
    path.chmod(0o600)


async def init_database(admin_url: str) -> dict[str, str]:
    """Create roles, schemas and tables; write each server's DSN file; return the DSNs by server."""
    database = make_url(admin_url).database or "postgres"
    engine = admin_engine(admin_url)
    try:
        passwords = await _ensure_roles(engine, database)
        await run_migrations(engine)
        if is_embedded(admin_url):
            await _require_passwords_locally(engine)
    finally:
        await engine.dispose()
    urls = {server: _server_url(admin_url, server, password) for server, password in passwords.items()}
    for server, url in urls.items():
        _write_secret(server_dsn_file(server), url)
        ensure_signing_key(server)  # signs the audit checkpoints; the database never sees it
    secrets_dir().chmod(0o700)
    return urls


def fixture_records(server: str) -> list[SQLModel]:
    """The deterministic seed records of `server`, parents before children."""
    records: list[SQLModel] = import_module(f"fixtures.{server}").records()
    return records


async def seed_database(admin_url: str, servers: tuple[str, ...] = SERVERS) -> dict[str, int]:
    """Replace every tenant's data with the fixtures; returns the number of records per server.

    Raises `AdminError`, having changed nothing, when a schema lacks a table or column its fixtures fill.
    """
    engine = admin_engine(admin_url)
    counts: dict[str, int] = {}
    try:
        async with engine.connect() as conn:
            for server in servers:  # every schema checked before any is truncated
                missing = await missing_for_fixtures(conn, server, dict.fromkeys(map(type, fixture_records(server))))
                if missing:
                    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                    fix = await what_to_run(conn, server, embedded=is_embedded(admin_url))
                    raise AdminError(f"db seed: {missing[0]}{more} does not exist: {fix}")
            for server in servers:
                tables = await conn.execute(
                    # The audit trail is append-only and survives a reseed; everything else, pending
                    # approvals and idempotency keys included, starts again from the fixtures.
                    text("SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'audit_log'"),
                    {"s": server},
                )
                names = ", ".join(f"{server}.{row[0]}" for row in tables)
                if names:
                    await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        for server in servers:
            records = fixture_records(server)
            async with AsyncSession(engine) as session:
                # One flush per table, in the order the fixtures list them (parents first).
                for table in dict.fromkeys(type(record) for record in records):
                    session.add_all([record for record in records if type(record) is table])
                    await session.flush()
                await session.commit()
            counts[server] = len(records)
    finally:
        await engine.dispose()
    return counts


async def database_is_seeded(admin_url: str) -> bool:
    """True when the fixture tenants have data (the demo seeds only a fresh database)."""
    # The table of the first registered server's first fixture record: whichever servers are registered.
    first_table = type(fixture_records(SERVERS[0])[0])
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            count = await conn.execute(select(func.count()).select_from(first_table))
            return bool(count.scalar_one())
    finally:
        await engine.dispose()
