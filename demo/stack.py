"""Start the demo's stack as separate processes: the dev authorization server and every server.

Each server runs in its own process (`supplychain serve <name> --transport http`) so that each holds
only its own database credential, exactly as in a deployment.
- phase 2 (`running_stack`): `supplychain idp serve --base-port base` and `supplychain serve <name>
  --base-port base`: the authorization server on `base`, each server `base` plus the distance of its
  registry port from 8100 (`deployment.registry.port_from`); the defaults are 8100..8104;
- phase 3 (`running_gateway`): the authorization server on `base`, two replicas of each server on
  their own 127.0.0.x addresses, and HAProxy in front on 127.0.0.1:8443 (`supplychain.gateway_up`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from securemcp.settings import home_dir

from deployment.registry import SERVERS, loopback_issuer, loopback_resources, port_from
from supplychain.processes import StartFailed, stop_process, wait_until_answering

__all__ = ["Stack", "StartFailed", "running_gateway", "running_stack", "stack_environment"]


@dataclass(frozen=True)
class Stack:
    """Where the running stack answers."""

    issuer: str
    server_urls: dict[str, str]
    ca_file: Path | None = None  # the CA clients must trust (phase 3: the gateway's dev certificate)


def stack_environment(base_port: int, extra: dict[str, str] | None = None) -> tuple[dict[str, str], Stack]:
    """The environment every process of the stack shares (plus `extra`), and the URLs it will answer on.

    Only the home is handed down: where each process listens comes from `--base-port` on its command
    line, the same option a person gives `supplychain idp serve` and `supplychain serve` by hand.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env["SUPPLYCHAIN_HOME"] = str(home_dir())
    return env | (extra or {}), Stack(issuer=loopback_issuer(base_port), server_urls=loopback_resources(base_port))


@contextmanager
def running_stack(
    base_port: int = 8100, *, timeout_seconds: float = 120.0, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Run the authorization server and every registered server until the block ends (`extra_env` for all)."""
    env, stack = stack_environment(base_port, extra_env)
    command = [sys.executable, "-m", "supplychain.cli"]
    placed = ["--base-port", str(base_port)]
    processes = [subprocess.Popen([*command, "idp", "serve", *placed], env=env)]  # noqa: S603
    processes += [
        subprocess.Popen([*command, "serve", server, "--transport", "http", *placed], env=env)  # noqa: S603
        for server in SERVERS
    ]
    try:
        probes = [f"{stack.issuer}/.well-known/oauth-authorization-server"] + [
            url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp") for url in stack.server_urls.values()
        ]
        wait_until_answering(probes, processes, timeout_seconds)
        yield stack
    finally:
        for process in processes:
            process.terminate()  # all at once, then wait for each
        for process in processes:
            stop_process(process)


@contextmanager
def running_gateway(base_port: int = 8100, gateway_port: int = 8443, *, timeout_seconds: float = 90) -> Iterator[Stack]:
    """Run phase 3 until the block ends: the authorization server, two replicas per server, HAProxy."""
    from deployment.registry import replica_address
    from supplychain.devcerts import certs_dir
    from supplychain.gateway_settings import GatewaySettings
    from supplychain.gateway_up import start_gateway

    ports = {server: port_from(server, base_port) for server in SERVERS}  # as in phase 2, other hosts
    settings = GatewaySettings(
        bind=f"127.0.0.1:{gateway_port}",
        public_url=f"https://127.0.0.1:{gateway_port}",
        issuer_url=f"http://127.0.0.1:{base_port}",
        backends={server: [replica_address(server, index, ports[server]) for index in range(2)] for server in SERVERS},
    )
    # In a thread of its own: rendering fetches the JWKS with its own event loop, and the demo's is running.
    with ThreadPoolExecutor(max_workers=1) as starter:
        gateway = starter.submit(start_gateway, settings, with_idp=True, timeout=timeout_seconds).result()
    try:
        yield Stack(issuer=settings.issuer_url, server_urls=gateway.urls, ca_file=certs_dir() / "ca.pem")
    finally:
        gateway.stop()
