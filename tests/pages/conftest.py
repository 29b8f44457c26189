"""The approval pages' tests: the dev IdP and real servers on loopback, and a real Chromium.

Each server serves its pages at `<its origin>/approvals` with its own session key (a 0600 file under
the session's `SUPPLYCHAIN_HOME`), and registers itself at the dev IdP on first sign-in.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.running import running_stack
from tests.http.stack import Stack

PAGES_SERVERS = ("payments", "returns", "logistics")


@pytest.fixture(scope="package")
def pages_stack(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[Stack]:
    """The IdP and the payments, returns and logistics servers, serving their approval pages."""
    # A request-state key, as replicas share one: the session key derives from it, so a test can re-sign
    # a session cookie as the server would have written it earlier (an aged sign-in).
    key = secrets.token_hex(32)
    with running_stack(supplychain_home / "pages-tests" / "idp-keys", PAGES_SERVERS, request_state_key=key) as running:
        yield running


def pages_url(stack: Stack, server: str, path: str = "") -> str:
    """An absolute URL of `server`'s approval pages."""
    return f"{stack[server].origin}/approvals{path}"
