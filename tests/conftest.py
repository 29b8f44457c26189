"""One real Postgres per test session, chosen in this order:

1. `SUPPLYCHAIN_TEST_DATABASE_URL`: an admin DSN of a Postgres you run (its database is used as is);
2. a Docker engine, through testcontainers (`postgres:16`);
3. the embedded `pgserver` cluster, in a temporary `SUPPLYCHAIN_HOME` of its own (`tests.cluster_home`).

The session runs `db init` once (roles, schemas, migrations, per-server secrets files). Tests that
need data take the `seeded` fixture, which restores the fixtures before the test, so each test starts
from the same state whatever the previous one wrote.

Tests that run an outside program carry its marker, and skip with a reason where it is not on
`PATH` (a fresh machine has only Python and uv; CI installs both programs):

- `@pytest.mark.haproxy`: starts or asks HAProxy (the gateway topology, `haproxy -c`);
- `@pytest.mark.chromium`: drives Chromium (Playwright with `executable_path` from
  `shutil.which("chromium")`, args `["--no-sandbox"]`).

A module that uses only such tests can say `pytestmark = pytest.mark.chromium`. Two tests keep the
rule honest (tests/test_fresh_machine.py): every test module that runs one of the programs carries
its marker, and the marked tests, run with both programs hidden from `PATH`, skip and exit 0.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from supplychain.admin import init_database, seed_database
from supplychain.embedded import start_embedded, stop_embedded
from tests.cluster_home import cluster_home

# marker -> the program its tests need (the marker and the program share a name)
PROGRAM_MARKERS = ("haproxy", "chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip each test marked with a program that is not on `PATH`, saying which and how to get it."""
    missing = [program for program in PROGRAM_MARKERS if shutil.which(program) is None]
    for item in items:
        for program in missing:
            if item.get_closest_marker(program) is not None:
                reason = f"{program} is not installed (.ci/run installs it: apt-get install {program})"
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # Coroutine tests run on anyio's plugin (`anyio_mode = "auto"` in pyproject.toml): pytest-asyncio's
    # fixture teardown breaks the MCP client's cancel scopes (docs/testing.md says how, and how it was checked).
    return "asyncio"


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def supplychain_home() -> Iterator[Path]:
    """A private SUPPLYCHAIN_HOME: secrets files and the embedded cluster live here.

    Not under pytest's base temporary folder, which another pytest run narrows under the cluster's
    feet (tests/cluster_home.py says how); removed at the end of the session.
    """
    previous = os.environ.get("SUPPLYCHAIN_HOME")
    with cluster_home("session") as home:
        os.environ["SUPPLYCHAIN_HOME"] = str(home)
        yield home
    if previous is None:
        os.environ.pop("SUPPLYCHAIN_HOME", None)
    else:
        os.environ["SUPPLYCHAIN_HOME"] = previous


@pytest.fixture(scope="session")
def admin_url(supplychain_home: Path) -> Iterator[str]:
    """The admin DSN of the session's database."""
    explicit = os.environ.get("SUPPLYCHAIN_TEST_DATABASE_URL")
    if explicit:
        yield explicit
    elif _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as container:
            yield container.get_connection_url()
    else:
        os.environ.pop("SUPPLYCHAIN_ADMIN_DATABASE_URL", None)
        yield start_embedded()
        stop_embedded()


@pytest.fixture(scope="session")
async def server_urls(admin_url: str) -> dict[str, str]:
    """Run `db init` once; each server's own DSN by server name."""
    return await init_database(admin_url)


@pytest.fixture
async def seeded(admin_url: str, server_urls: dict[str, str]) -> AsyncIterator[None]:
    """Restore every server's fixture data before the test."""
    await seed_database(admin_url)
    yield
