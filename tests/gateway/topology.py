"""Phase 3 on loopback for tests: the in-process dev IdP (tests mint with its real keys), then
`supplychain.gateway_up.start_gateway` (HAProxy before two replica processes per server, each replica on
its own 127.0.0.x with a free port). Used by tests/gateway (once per folder) and the fault tests."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from deployment.registry import SERVERS, replica_address
from supplychain.gateway_settings import GatewaySettings
from supplychain.gateway_up import Gateway, start_gateway
from supplychain.processes import free_port
from tests.http.stack import Idp, start_idp
from tests.http.tokens import PROBE, mint


@contextmanager
def running_topology(
    folder: Path, *, replica_log_level: str | None = None, **settings: Any
) -> Iterator[tuple[Gateway, Idp, ssl.SSLContext]]:
    """The gateway, its replicas and the IdP until the block ends; `settings` override GatewaySettings.

    With `replica_log_level`, each replica's log is a file in the run folder (`Replica.log`).
    """
    port = free_port("127.0.0.1")
    public_url = f"https://127.0.0.1:{port}"
    idp = start_idp(folder / "idp-keys", {server: f"{public_url}/{server}/mcp" for server in SERVERS})
    hosts = {server: [replica_address(server, index).rsplit(":", 1)[0] for index in range(2)] for server in SERVERS}
    backends = {server: [f"{host}:{free_port(host)}" for host in hosts[server]] for server in SERVERS}
    options: dict[str, Any] = {"run_dir": folder / "run", "hard_stop_after_seconds": 10, **settings}
    config = GatewaySettings(
        bind=f"127.0.0.1:{port}", public_url=public_url, issuer_url=idp.issuer, backends=backends, **options
    )
    try:
        gateway = start_gateway(config, with_idp=False, replica_log_level=replica_log_level)
    except BaseException:
        idp.served.stop()
        raise
    try:
        from supplychain.devcerts import certs_dir

        wait_until_replicas_accept(gateway, idp)
        yield gateway, idp, ssl.create_default_context(cafile=str(certs_dir() / "ca.pem"))
    finally:
        gateway.stop()
        idp.served.stop()


def wait_until_replicas_accept(gateway: Gateway, idp: Idp, timeout: float = 30) -> None:
    """Each replica refuses tokens until it has the issuer's keys and revocation list, and HAProxy routes
    to a replica only once its health check passes: wait for both, for every replica."""
    deadline = time.monotonic() + timeout
    with httpx2.Client(timeout=5) as http:
        for server, replicas in gateway.replicas.items():
            headers = {"Authorization": f"Bearer {mint(idp, user=PROBE.sub, server=server, subject=PROBE)}"}
            for replica in replicas:
                while http.post(replica.local_url, headers=headers, content=b"{}").status_code == 401:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{replica.address} never accepted a valid token")
                    time.sleep(0.05)
            # And HAProxy routes to all of them again (its health check marks a restarted one up).
            while gateway.replicas_up(server) < len(replicas):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"HAProxy does not hold every {server} replica up")
                time.sleep(0.1)
