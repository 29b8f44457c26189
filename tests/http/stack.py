"""Real servers on loopback for the HTTP tests: the dev IdP and the resource servers (tests/http: every registered one).

Each app is served by uvicorn on a socket bound before its settings are made (so every URL names the
real port), in a thread of its own with its own event loop: the servers keep serving while a test
blocks, and a test can stop one (the IdP, to prove fail-closed revocation) without touching the rest.
uvicorn is given no logging configuration, so its records reach the root logger and `caplog`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from securemcp.settings import ServerSettings

from idp.app import build_app
from idp.keys import KeyRing
from idp.settings import IdpSettings
from supplychain.servers import http_app, load_settings


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port (not yet listening)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Served:
    """One ASGI app served by uvicorn in a background thread."""

    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    def stop(self) -> None:
        """Stop serving and wait for the thread (lifespan shutdown included)."""
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"


def serve(app: Any, sock: socket.socket, *, label: str, **config: Any) -> Served:
    """Start serving `app` on `sock`; returns once uvicorn accepts connections (startup done)."""
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, server_header=False, timeout_graceful_shutdown=2, **config)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=label, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("server failed to start (see the captured log)")
        time.sleep(0.01)
    return Served(server=server, thread=thread, sock=sock)


class PathCounter:
    """ASGI wrapper counting requests by path (how often servers fetch the JWKS, say)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.counts[scope["path"]] += 1
        await self.app(scope, receive, send)


@dataclass
class Idp:
    """A running dev authorization server: settings (issuer, resources), key ring, the app (its state)."""

    settings: IdpSettings
    keys: KeyRing
    app: Any
    served: Served
    requests: Counter[str]

    @property
    def issuer(self) -> str:
        return self.settings.issuer


def start_idp(keys_dir: Path, resources: dict[str, str], **overrides: Any) -> Idp:
    """The dev IdP on a free port, its keys in `keys_dir`, its tokens' audiences from `resources` (other
    settings from `overrides`)."""
    sock = loopback_socket()
    settings = IdpSettings(port=sock.getsockname()[1], resources=resources, **overrides)
    keys = KeyRing(keys_dir)
    keys.signing_key()  # made now: a key made lazily by two threads at once would be two keys
    app = build_app(settings, keys=keys)
    counter = PathCounter(app)
    served = serve(counter, sock, label="idp", lifespan="off")
    return Idp(settings=settings, keys=keys, app=app, served=served, requests=counter.counts)


@dataclass
class Server:
    """A running resource server: its name, settings and endpoint URL."""

    name: str
    settings: ServerSettings
    served: Served

    @property
    def url(self) -> str:
        """The MCP endpoint (also the token audience)."""
        return self.settings.resource_url

    @property
    def local_url(self) -> str:
        """The endpoint on the loopback socket (differs from `url` when a public URL is configured)."""
        return f"{'https' if self.settings.tls else 'http'}://127.0.0.1:{self.served.port}/mcp"

    @property
    def origin(self) -> str:
        return self.url.removesuffix("/mcp")

    @property
    def metadata_url(self) -> str:
        """Its RFC 9728 metadata document (path-inserted well-known URI)."""
        return f"{self.origin}/.well-known/oauth-protected-resource/mcp"


def start_server(name: str, issuer_url: str, *, sock: socket.socket | None = None, **overrides: Any) -> Server:
    """Server `name` built by `supplychain.servers.http_app` and served as `supplychain serve --transport http` does
    (TLS when the settings name a certificate)."""
    sock = sock or loopback_socket()
    settings = load_settings(name, port=sock.getsockname()[1], issuer_url=issuer_url, **overrides)
    tls = {"ssl_certfile": settings.tls_certfile, "ssl_keyfile": settings.tls_keyfile} if settings.tls else {}
    served = serve(http_app(name, settings), sock, label=name, proxy_headers=False, **tls)
    return Server(name=name, settings=settings, served=served)


def resource_url(port: int, *, tls: bool = False) -> str:
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}/mcp"


@dataclass
class Stack:
    """The dev IdP and one instance of each server, all pointing at it."""

    idp: Idp
    servers: dict[str, Server]

    def __getitem__(self, name: str) -> Server:
        return self.servers[name]


def probe_until_accepted(server: Server, token: str, timeout: float = 10) -> None:
    """Block until `server` accepts `token` (it refuses every token until it has the issuer's keys and
    a fresh revocation list). The probe is a POST that the SDK answers with 400 once the token passes.
    """
    deadline = time.monotonic() + timeout
    with httpx2.Client(timeout=5, verify=False) as http:  # readiness only; TLS is tested with the dev CA
        while time.monotonic() < deadline:
            response = http.post(server.local_url, headers={"Authorization": f"Bearer {token}"}, content=b"{}")
            if response.status_code != 401:
                return
            time.sleep(0.02)
    raise RuntimeError(f"{server.name} at {server.local_url} never accepted a valid token")
