"""Phase 3 for this folder, once: a real HAProxy (`supplychain.gateway_up.start_gateway`) in front of two
replica processes of each server, each on its own 127.0.0.x, with the test session's IdP and database.

The IdP runs in this process (tests/http/stack.py), so tests mint tokens with its real keys and can
rotate them; its resources (token audiences) are the servers' public URLs behind the gateway. One
tenant, `flood-test`, has a limit of 5 requests per 10 s at the edge; everyone else has the default.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from idp.tokens import Subject
from supplychain.gateway_up import Gateway
from tests.gateway.topology import running_topology
from tests.http.stack import Idp
from tests.http.tokens import mint

FLOOD_LIMIT = 5
ALLOWED_ORIGIN = "https://app.example.test"


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

    def server_log_records(self, server: str) -> list[dict[str, Any]]:
        """Every JSON log record that `server`'s replicas wrote so far (the edge fixture logs them at INFO)."""
        records = []
        for replica in self.gateway.replicas[server]:
            assert replica.log is not None, "the topology was started without replica logs"
            for line in replica.log.read_text(encoding="utf-8").splitlines():
                if line.startswith("{"):
                    records.append(json.loads(line))
        return records

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


@pytest.fixture(scope="package")
def edge(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[Edge]:
    # Its tests carry `pytest.mark.haproxy`, which skips them where HAProxy is missing (tests/conftest.py).
    settings = {"allowed_origins": [ALLOWED_ORIGIN], "tenant_limits": {"flood-test": FLOOD_LIMIT}}
    # The replicas log at INFO to files, so a test can read what a server saw (uvicorn's access lines).
    folder = supplychain_home / "gateway-tests"
    with running_topology(folder, replica_log_level="INFO", **settings) as (gateway, idp, ca):
        yield Edge(gateway=gateway, idp=idp, ca=ca)
