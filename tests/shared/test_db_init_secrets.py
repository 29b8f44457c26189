"""No credential in any `db init` error: a failed role step names the step and Postgres's reason only.

The failure is forced for real: `db init` run as an admin without CREATEROLE, against the session's
database whose server roles exist, so the first `ALTER ROLE ... PASSWORD` is refused by Postgres.
Roles are given SCRAM verifiers, never passwords, so no statement holds one in the first place.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from deployment.registry import SERVERS
from supplychain.admin import AdminError, _existing_password, admin_engine, init_database, scram_verifier
from tests.helpers import admin_rows

WEAK_ADMIN, WEAK_PASSWORD = "review_weak_admin", "weak-admin-pw-5d1c"
REFUSED = "db init: setting up role inventory_svc failed: permission denied to alter role"


@pytest.fixture
async def weak_admin_url(admin_url: str, server_urls: dict[str, str]) -> AsyncIterator[str]:
    """An admin DSN of a role that may connect and own nothing: every role statement is refused."""
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"DROP ROLE IF EXISTS {WEAK_ADMIN}"))
            await conn.execute(text(f"CREATE ROLE {WEAK_ADMIN} LOGIN PASSWORD '{WEAK_PASSWORD}' NOCREATEROLE"))
            await conn.execute(text(f'GRANT CONNECT ON DATABASE "{make_url(admin_url).database}" TO {WEAK_ADMIN}'))
        yield make_url(admin_url).set(username=WEAK_ADMIN, password=WEAK_PASSWORD).render_as_string(hide_password=False)
        async with engine.connect() as conn:
            await conn.execute(text(f'REVOKE ALL ON DATABASE "{make_url(admin_url).database}" FROM {WEAK_ADMIN}'))
            await conn.execute(text(f"DROP ROLE IF EXISTS {WEAK_ADMIN}"))
    finally:
        await engine.dispose()


def secrets_of_the_servers() -> list[str]:
    passwords = [_existing_password(server) for server in SERVERS]
    assert all(passwords)  # the session's `db init` wrote them; a new run reuses them
    return [password for password in passwords if password] + [WEAK_PASSWORD]


async def role_verifiers(admin_url: str) -> list[tuple[str, str]]:
    query = "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE '%\\_svc' ORDER BY rolname"
    return [(row[0], row[1]) for row in await admin_rows(admin_url, query)]


async def test_a_failed_db_init_raises_without_the_statement_or_any_password(
    weak_admin_url: str, admin_url: str
) -> None:
    before = await role_verifiers(admin_url)
    with pytest.raises(AdminError) as failure:
        await init_database(weak_admin_url)
    assert str(failure.value) == REFUSED
    shown = "".join(traceback.format_exception(failure.value)) + repr(failure.value)
    for secret in [*secrets_of_the_servers(), "PASSWORD", "SCRAM-SHA-256$"]:
        assert secret not in shown
    assert await role_verifiers(admin_url) == before  # nothing changed


async def test_a_failed_db_init_command_prints_one_line_and_no_password(
    weak_admin_url: str, supplychain_home: Path
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env |= {"SUPPLYCHAIN_HOME": str(supplychain_home), "SUPPLYCHAIN_ADMIN_DATABASE_URL": weak_admin_url}
    with anyio.fail_after(120):
        done = await anyio.run_process([sys.executable, "-m", "supplychain.cli", "db", "init"], env=env, check=False)
    output = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 1
    assert output.strip() == f"Error: {REFUSED}"
    for secret in secrets_of_the_servers():
        assert secret not in output


def test_the_verifier_is_what_postgres_stores_and_holds_no_password() -> None:
    verifier = scram_verifier("correct-horse-battery-staple")
    assert verifier.startswith("SCRAM-SHA-256$4096:") and "correct-horse" not in verifier
    assert scram_verifier("correct-horse-battery-staple") != verifier  # a fresh salt each time
