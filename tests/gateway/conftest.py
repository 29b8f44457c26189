"""Phase 3 for this folder, once: a real HAProxy (`shared.gateway_up.start_gateway`) in front of two
replica processes of each server, each on its own 127.0.0.x, with the test session's IdP and database.

The IdP runs in this process (tests/http/stack.py), so tests mint tokens with its real keys and can
rotate them; its resources (token audiences) are the servers' public URLs behind the gateway. One
tenant, `flood-test`, has a limit of 5 requests per 10 s at the edge; everyone else has the default.
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from idp.tokens import Subject
from shared.gateway_settings import GatewaySettings, replica_address
from shared.gateway_up import Gateway, start_gateway
from shared.policy import SERVERS
from tests.http.stack import Idp, start_idp
from tests.http.tokens import PROBE, mint

FLOOD_LIMIT = 5
ALLOWED_ORIGIN = "https://app.example.test"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Edge:
    """The running topology, as the tests see it."""

    gateway: Gateway
    idp: Idp
    ca: ssl.SSLContext

    def url(self, server: str) -> str:
        return self.gateway.urls[server]

    def metadata_url(self, server: str) -> str:
        return self.gateway.settings.metadata_url(server)

    def token(self, user: str, server: str = "inventory", *, subject: Subject | None = None) -> str:
        return mint(self.idp, user=user, server=server, subject=subject)

    def http(self, **options: object) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(verify=self.ca, timeout=30, **options)  # type: ignore[arg-type]

    def log_lines(self) -> list[str]:
        """The request lines of the access log (HAProxy also writes health-check state changes there)."""
        lines = self.gateway.access_log.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if " fe_mcp" in line]

    def mark(self) -> int:
        """The number of log lines once earlier requests are logged: HAProxy writes a line just after
        the response, so the previous test's last line may still be on its way."""
        count, stable_since = len(self.log_lines()), time.monotonic()
        while time.monotonic() - stable_since < 0.15:
            time.sleep(0.03)
            if (now := len(self.log_lines())) != count:
                count, stable_since = now, time.monotonic()
        return count

    def new_log_lines(self, before: int, count: int = 1, timeout: float = 5) -> list[str]:
        """The access log lines written after the first `before`, once there are at least `count`."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log_lines()[before:]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)


def status_of(line: str) -> int:
    """The HTTP status of an access log line (`... %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST ...`)."""
    match = re.search(r"\] \S+ \S+ \S+ (\d{3}) ", line)
    assert match is not None, line
    return int(match.group(1))


def wait_until_replicas_accept(edge: Edge, timeout: float = 30) -> None:
    """Each replica refuses tokens until it has the issuer's keys and revocation list: wait for all."""
    deadline = time.monotonic() + timeout
    with httpx2.Client(timeout=5) as http:
        for server, replicas in edge.gateway.replicas.items():
            token = mint(edge.idp, user=PROBE.sub, server=server, subject=PROBE)
            for replica in replicas:
                while (
                    http.post(
                        replica.local_url, headers={"Authorization": f"Bearer {token}"}, content=b"{}"
                    ).status_code
                    == 401
                ):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{replica.address} never accepted a valid token")
                    time.sleep(0.05)


@pytest.fixture(scope="package")
def edge(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[Edge]:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (.ci/run installs it: apt-get install haproxy)")
    port = free_port("127.0.0.1")
    public_url = f"https://127.0.0.1:{port}"
    folder = supplychain_home / "gateway-tests"
    idp = start_idp(folder / "idp-keys", {server: f"{public_url}/{server}/mcp" for server in SERVERS})
    backends = {}
    for server in SERVERS:
        hosts = [replica_address(server, index).rsplit(":", 1)[0] for index in range(2)]
        backends[server] = [f"{host}:{free_port(host)}" for host in hosts]
    settings = GatewaySettings(
        bind=f"127.0.0.1:{port}",
        public_url=public_url,
        issuer_url=idp.issuer,
        allowed_origins=[ALLOWED_ORIGIN],
        tenant_limits={"flood-test": FLOOD_LIMIT},
        backends=backends,
        run_dir=folder / "run",
        hard_stop_after_seconds=10,
    )
    try:
        gateway = start_gateway(settings, with_idp=False)
    except BaseException:
        idp.served.stop()
        raise
    try:
        from shared.devcerts import certs_dir

        running = Edge(gateway=gateway, idp=idp, ca=ssl.create_default_context(cafile=str(certs_dir() / "ca.pem")))
        wait_until_replicas_accept(running)
        yield running
    finally:
        gateway.stop()
        idp.served.stop()
