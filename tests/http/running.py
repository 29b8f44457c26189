"""A dev IdP and some resource servers on loopback, started together and stopped at the end.

The HTTP tests' package-wide `stack` fixture is one of these; the fuzz and fault tests start their own
(other settings, or a stack they may break).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.http.stack import (
    Server,
    Stack,
    loopback_socket,
    resource_url,
    start_idp,
    start_server,
)
from tests.http.tokens import wait_until_accepting


@contextmanager
def running_stack(keys_dir: Path, names: tuple[str, ...], **overrides: Any) -> Iterator[Stack]:
    """The IdP and one instance of each of `names` (settings `overrides` applied to all), stopped at the end."""
    sockets = {name: loopback_socket() for name in names}
    idp = start_idp(keys_dir, {name: resource_url(sock.getsockname()[1]) for name, sock in sockets.items()})
    servers: dict[str, Server] = {}
    try:
        for name in names:
            servers[name] = start_server(name, idp.issuer, sock=sockets[name], **overrides)
        for server in servers.values():
            wait_until_accepting(idp, server)
        yield Stack(idp=idp, servers=servers)
    finally:
        for server in servers.values():
            if server.served.thread.is_alive():
                server.served.stop()
        if idp.served.thread.is_alive():
            idp.served.stop()
