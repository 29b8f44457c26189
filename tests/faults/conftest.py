"""A database of the fault tests' own: a separate embedded cluster in a separate SUPPLYCHAIN_HOME.

These tests stop and start Postgres; doing that to the session's database would break every other
test running after them. The home is switched only while this folder's tests run (pytest runs tests
one at a time), then the session's home is restored and the cluster stopped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from supplychain.admin import init_database, seed_database
from supplychain.embedded import start_embedded, stop_embedded
from tests.cluster_home import cluster_home


@dataclass(frozen=True)
class OwnDatabase:
    home: Path
    admin_url: str
    server_urls: dict[str, str]


@pytest.fixture(scope="package")
async def own_database() -> AsyncIterator[OwnDatabase]:
    # Not under pytest's tmp_path: another pytest run may narrow or prune it under a running cluster.
    saved = {name: os.environ.get(name) for name in ("SUPPLYCHAIN_HOME", "SUPPLYCHAIN_ADMIN_DATABASE_URL")}
    with cluster_home("faults") as home:
        os.environ["SUPPLYCHAIN_HOME"] = str(home)
        os.environ.pop("SUPPLYCHAIN_ADMIN_DATABASE_URL", None)
        try:
            admin_url = start_embedded()
            server_urls = await init_database(admin_url)
            await seed_database(admin_url)
            yield OwnDatabase(home=home, admin_url=admin_url, server_urls=server_urls)
        finally:
            stop_embedded()  # this home's cluster: SUPPLYCHAIN_HOME still points at it
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
