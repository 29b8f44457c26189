"""A dev authorization server per test, served by uvicorn on a free loopback port, in a private home.

Each test gets its own `SUPPLYCHAIN_HOME` (keys, clients file) and its own in-memory state, so tests
are independent; the IdP is reached over real HTTP, the way clients and servers reach it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn

from idp.app import build_app
from idp.clients import Client, add_agent_client
from idp.settings import IdpSettings
from tests.idp.enterprise import EnterpriseStack, enterprise_stack
from tests.idp.flows import Idp


@pytest.fixture
def idp_home(supplychain_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private SUPPLYCHAIN_HOME for this test (the session's is restored afterwards)."""
    for name in [key for key in os.environ if key.startswith("SUPPLYCHAIN_IDP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SUPPLYCHAIN_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def idp_overrides() -> dict[str, Any]:
    """Settings of the `idp` fixture's server beyond its port (a test module may override this fixture)."""
    return {}


@pytest.fixture
async def idp(idp_home: Path, idp_overrides: dict[str, Any]) -> AsyncIterator[Idp]:
    """A running dev authorization server and an HTTP client for it (cookies kept, redirects not followed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound before the settings are made, so the issuer names the real port
    port = sock.getsockname()[1]
    settings = IdpSettings(port=port, **idp_overrides)
    app = build_app(settings)
    # log_config=None: uvicorn's default config would disable every logger created before it.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, lifespan="off"))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        with anyio.fail_after(5):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
                await anyio.sleep(0.01)
        async with httpx2.AsyncClient(base_url=settings.issuer, timeout=10) as http:
            yield Idp(settings=settings, http=http, app=app)
        server.should_exit = True
    sock.close()


@pytest.fixture(scope="package")
def enterprise(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[EnterpriseStack]:
    """acme's and globex's stand-in enterprise IdPs, a dev IdP that trusts them, and an inventory server."""
    with enterprise_stack(supplychain_home / "id-jag-tests" / "idp-keys") as stack:
        yield stack


@pytest.fixture
def agent(enterprise: EnterpriseStack) -> tuple[Client, str]:
    """A confidential agent client, registered at the dev IdP for the jwt-bearer grant (fresh per test)."""
    return add_agent_client(name="Enterprise agent")
