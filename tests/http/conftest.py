"""The phase 2 stack for the HTTP tests: the dev IdP and every registered server, on loopback, once for this folder.

The servers read their database credentials from the session's `SUPPLYCHAIN_HOME` (written by `db
init` in `tests/conftest.py`), exactly as `supplychain serve` does; the IdP keeps its signing keys in
a private folder under that home, so rotating them here touches no other test. Tests that need other
settings (a low rate limit, a tiny body limit, TLS, an IdP that goes away) start extra instances with
`extra_server`, whose tokens `mint(..., audience=server.url)` makes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from deployment.registry import SERVERS
from tests.http.running import running_stack
from tests.http.stack import (
    Idp,
    Server,
    Stack,
    start_server,
)
from tests.http.tokens import wait_until_accepting


@pytest.fixture(scope="package")
def stack(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[Stack]:
    """The IdP and one instance of each server with default settings (apart from the ports)."""
    with running_stack(supplychain_home / "http-tests" / "idp-keys", SERVERS) as running:
        yield running


ExtraServer = Callable[..., AbstractContextManager[Server]]


@pytest.fixture
def extra_server(stack: Stack) -> ExtraServer:
    """Start another instance of a server with other settings, pointed at the session's IdP (or `issuer`);
    it is stopped when the `with` block ends."""

    @contextmanager
    def start(name: str, *, issuer: Idp | None = None, **overrides: Any) -> Iterator[Server]:
        issuer = issuer or stack.idp
        server = start_server(name, issuer.issuer, **overrides)
        try:
            wait_until_accepting(issuer, server)
            yield server
        finally:
            if server.served.thread.is_alive():
                server.served.stop()

    return start
