"""The smallest phase 3 that shows which per-tenant rate limit holds: the in-process dev IdP, the
inventory server as two replicas of `supplychain serve inventory --workers 2` (four worker processes,
each with its own in-process limit), and two HAProxy gateway nodes that share their counters as peers.

Both nodes serve the same public URL (one name in front of both, as a load balancer would give them),
so a token is good at either; a client talking to the second node sends that public Host. The other
servers get no process: their backends stay down, and no test routes to them.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from idp.tokens import Subject
from supplychain.gateway import render_from_issuer
from supplychain.gateway_settings import GatewaySettings
from supplychain.gateway_up import Gateway, Replica, replica_environment, start_haproxy
from supplychain.processes import free_port, stop_process, wait_until_answering
from tests.http.stack import Idp, start_idp
from tests.http.tokens import mint

SERVER = "inventory"
PROCESS_LIMIT = 5  # per minute, in each worker process (the server's own RATE_LIMIT)
WORKERS = 2  # per replica
EDGE_LIMIT = 8  # per 10 s, per tenant, at the edge: once across every node, replica and worker
LIMITED_TENANTS = ("edge-one-node", "edge-two-nodes")
READINESS = Subject(sub="probe@limits-readiness", tenant_id="limits-readiness", roles=("analyst",))


@dataclass
class LimitsTopology:
    """The running processes, and how a test reaches each part."""

    idp: Idp
    nodes: list[GatewaySettings]
    haproxies: list[subprocess.Popen[bytes]]
    replicas: list[Replica]
    ca: ssl.SSLContext

    def node_url(self, index: int) -> str:
        """The inventory MCP endpoint at gateway node `index` (its own address; Host: the public one)."""
        return f"https://{self.nodes[index].bind}/{SERVER}/mcp"

    @property
    def public_host(self) -> str:
        return self.nodes[0].public_host

    def token(self, tenant: str) -> str:
        subject = Subject(sub=f"bot@{tenant}", tenant_id=tenant, roles=("analyst",))
        return mint(self.idp, user=subject.sub, server=SERVER, subject=subject)


@contextmanager
def limits_topology(folder: Path) -> Iterator[LimitsTopology]:
    """Start everything, wait until every worker process accepts tokens and both nodes route; stop it all."""
    binds = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    public_url = f"https://{binds[0]}"
    idp = start_idp(folder / "idp-keys", {SERVER: f"{public_url}/{SERVER}/mcp"})
    backends = [f"{host}:{free_port(host)}" for host in ("127.0.0.11", "127.0.0.12")]
    peers = {f"gw{index}": f"127.0.0.1:{free_port()}" for index in range(2)}
    nodes = [
        GatewaySettings(
            bind=bind,
            public_url=public_url,
            issuer_url=idp.issuer,
            run_dir=folder / f"node-{index}",
            backends={SERVER: backends},
            replicas=1,
            tenant_limits=dict.fromkeys(LIMITED_TENANTS, EDGE_LIMIT),
            peers=peers,
            local_peer=f"gw{index}",
            hard_stop_after_seconds=5,
        )
        for index, bind in enumerate(binds)
    ]
    env = replica_environment(nodes[0], SERVER) | {"SUPPLYCHAIN_INVENTORY_RATE_LIMIT": f"{PROCESS_LIMIT}/minute"}
    replicas = [Replica(SERVER, address, env, log=folder / f"replica-{i}.log", workers=WORKERS)
                for i, address in enumerate(backends)]  # fmt: skip
    haproxies: list[subprocess.Popen[bytes]] = []
    try:
        for replica in replicas:
            replica.start()
        processes = [replica.process for replica in replicas if replica.process is not None]
        wait_until_answering([f"http://{address}/healthz" for address in backends], processes, timeout=90)
        wait_until_every_worker_accepts(idp, replicas)
        for node in nodes:
            node.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            render_from_issuer(node)
            haproxies.append(start_haproxy(node))
        from supplychain.devcerts import certs_dir

        topology = LimitsTopology(
            idp=idp, nodes=nodes, haproxies=haproxies, replicas=replicas,
            ca=ssl.create_default_context(cafile=str(certs_dir() / "ca.pem")),
        )  # fmt: skip
        wait_until_nodes_route(topology)
        yield topology
    finally:
        for haproxy in haproxies:
            stop_process(haproxy)
        for replica in replicas:
            replica.stop()
        idp.served.stop()


def wait_until_every_worker_accepts(idp: Idp, replicas: list[Replica], timeout: float = 60) -> None:
    """A worker refuses every token until it has the issuer's keys: wait until each of them fetched the
    JWKS, then until a run of fresh connections (spread over the workers by the kernel) all pass."""
    deadline = time.monotonic() + timeout
    while idp.requests["/jwks.json"] < len(replicas) * WORKERS:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {idp.requests['/jwks.json']} worker(s) fetched the issuer's keys")
        time.sleep(0.05)
    headers = {"Authorization": f"Bearer {mint(idp, user=READINESS.sub, server=SERVER, subject=READINESS)}"}
    for replica in replicas:
        accepted = 0
        while accepted < 8:
            with httpx2.Client(timeout=5) as fresh:  # a new connection each time
                status = fresh.post(replica.local_url, headers=headers, content=b"{}").status_code
            accepted = accepted + 1 if status != 401 else 0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{replica.address} does not accept a valid token on every worker")


def wait_until_nodes_route(topology: LimitsTopology, timeout: float = 30) -> None:
    """Before a test counts answers: each node's health checks hold both inventory replicas up, and
    each node has its peers connection to the other established."""
    deadline = time.monotonic() + timeout
    for node, haproxy in zip(topology.nodes, topology.haproxies, strict=True):
        gateway = Gateway(settings=node, replicas={SERVER: topology.replicas}, haproxy=haproxy)
        while gateway.replicas_up(SERVER) < len(topology.replicas) or "state=EST" not in admin(node, "show peers"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy at {node.bind} does not route to the replicas or reach its peer")
            time.sleep(0.1)


def admin(node: GatewaySettings, command: str) -> str:
    """One command on a node's admin socket (the stats socket of its run folder)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(node.folder / "admin.sock"))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def tenant_count(node: GatewaySettings, tenant: str) -> int:
    """The tenant's request count in the node's st_tenants table now (0 before its first request)."""
    found = re.search(r"http_req_rate\(\d+\)=(\d+)", admin(node, f"show table st_tenants key {tenant}"))
    return int(found[1]) if found else 0
