"""globex's IdP for these tests: a real oidc-provider on loopback, one per test session.

The resource servers it knows are registered before it starts, as a company registers them: each
server's socket is bound first (`tests.http.stack.loopback_socket`) so its URL, and its approval pages'
callback, name the real port; a test module then serves the server on that socket.

Node 22 and oidc-provider come from npm (`scripts/oidc-provider.sh`, run on first use). Where they
cannot be had these tests skip with the reason, unless `REQUIRE_OIDC_PROVIDER=1` (set by `.ci/run`),
which makes that a failure.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployment.registry import REGISTRY
from tests.http.stack import loopback_socket, resource_url
from tests.identity_providers.provider import OidcProvider, ensure_installed, start_oidc_provider

# The servers globex's IdP issues tokens for in these tests.
GLOBEX_SERVERS = ("inventory", "logistics")


@dataclass
class GlobexIdp:
    """The running provider and the sockets its registered resource servers are to be served on."""

    provider: OidcProvider
    sockets: dict[str, socket.socket]

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def resource(self, server: str) -> str:
        """`server`'s canonical resource URL, the `aud` of its tokens."""
        return resource_url(self.sockets[server].getsockname()[1])

    def approvals_callback(self, server: str) -> str:
        """`server`'s approval pages' OpenID Connect redirect URI."""
        return pages_callback(self.resource(server))


def pages_callback(resource: str) -> str:
    """The approval pages' redirect URI of the server at `resource` (`securemcp.approvals.pages.config`)."""
    return f"{resource.removesuffix('/mcp')}/approvals/auth/callback"


def scopes_of(server: str) -> str:
    """Every scope `server` defines, as the IdP's resource-server entry lists them."""
    return " ".join(sorted(REGISTRY[server].scopes))


@pytest.fixture(scope="session")
def oidc_provider_installed() -> None:
    """Node 22 and oidc-provider, installed on first use; skips (or fails under REQUIRE_OIDC_PROVIDER=1)."""
    ensure_installed()


@contextmanager
def globex_idp_on_new_sockets(workdir: Path) -> Iterator[GlobexIdp]:
    """oidc-provider as globex's IdP, knowing `GLOBEX_SERVERS` on sockets newly bound for them (a socket can
    be served once: each module that serves servers for the IdP needs its own)."""
    sockets = {server: loopback_socket() for server in GLOBEX_SERVERS}
    try:
        urls = {server: resource_url(sock.getsockname()[1]) for server, sock in sockets.items()}
        provider = start_oidc_provider(
            workdir,
            resources={urls[server]: scopes_of(server) for server in GLOBEX_SERVERS},
            approvals_callbacks=[pages_callback(urls[server]) for server in GLOBEX_SERVERS],
        )
        try:
            yield GlobexIdp(provider=provider, sockets=sockets)
        finally:
            provider.stop()
    finally:
        for sock in sockets.values():
            sock.close()  # a server served on it has closed it already; closing twice is harmless


@pytest.fixture(scope="session")
def globex_idp(oidc_provider_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlobexIdp]:
    """oidc-provider as globex's IdP, knowing `GLOBEX_SERVERS` on sockets bound for them."""
    with globex_idp_on_new_sockets(tmp_path_factory.mktemp("globex-idp")) as idp:
        yield idp


@pytest.fixture
def fresh_provider(oidc_provider_installed: None, tmp_path: Path) -> Iterator[OidcProvider]:
    """A provider of the test's own (one it may restart or rotate), knowing one resource server URL."""
    provider = start_oidc_provider(
        tmp_path / "idp",
        resources={resource_url(9): scopes_of("inventory")},
        approvals_callbacks=[pages_callback(resource_url(9))],
    )
    try:
        yield provider
    finally:
        provider.stop()
