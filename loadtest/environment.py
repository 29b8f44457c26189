"""The system under load, all of its own: a temporary SUPPLYCHAIN_HOME with an embedded Postgres, the
dev IdP and the four servers, each a `supplychain` process on a free loopback port (or, `--via
gateway`, two replicas of each behind HAProxy, as `supplychain gateway up` runs them).

Nothing here touches the user's data: the home is a fresh temporary folder, the admin DSN and every
`SUPPLYCHAIN_*` variable of the caller's environment are dropped before anything starts, and the
cluster is stopped and the folder removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import psutil

from deployment.registry import SERVERS, entry
from supplychain.processes import StartFailed, free_port, stop_process, wait_until_answering

# 64 agents over two tenants go far past the default 600 calls/minute per tenant: the load test
# measures the servers, not the limiter (tests/http/test_transport.py proves the limiter).
RATE_LIMIT = "1000000/minute"


@dataclass
class Environment:
    home: Path
    admin_url: str
    urls: dict[str, str]  # server name -> MCP endpoint the agents call (also the token audience)
    processes: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)  # server -> its processes
    verify: ssl.SSLContext | bool = True  # the dev CA when the agents go through the gateway (TLS)
    via: str = "direct"

    def server_processes(self) -> dict[str, list[psutil.Process]]:
        return {name: [psutil.Process(p.pid) for p in self.processes[name]] for name in SERVERS}


def _isolate(home: Path) -> dict[str, str]:
    """This process's and the children's environment: our home, none of the caller's SUPPLYCHAIN_* settings."""
    for name in [name for name in os.environ if name.upper().startswith("SUPPLYCHAIN_")]:
        del os.environ[name]
    os.environ["SUPPLYCHAIN_HOME"] = str(home)
    return dict(os.environ)


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "supplychain.cli", *args]


@contextmanager
def environment(via: str = "direct") -> Iterator[Environment]:
    """Start everything (`via` "direct": one process per server; "gateway": HAProxy in front of two
    replicas per server); stop everything and remove the home when the block ends."""
    from idp.keys import KeyRing, keys_dir
    from supplychain.admin import init_database, seed_database
    from supplychain.embedded import start_embedded, stop_embedded

    home = Path(tempfile.mkdtemp(prefix="supplychain-loadtest-"))
    saved = dict(os.environ)
    env = _isolate(home)
    for name in SERVERS:
        env[f"{entry(name).env_prefix}RATE_LIMIT"] = RATE_LIMIT
    try:
        admin_url = start_embedded()
        anyio.run(init_database, admin_url)
        anyio.run(seed_database, admin_url)
        KeyRing(keys_dir()).signing_key()  # made once, before the IdP and this process both read it
        topology = _through_gateway if via == "gateway" else _direct
        with topology(home, env) as (urls, processes, verify):
            yield Environment(home=home, admin_url=admin_url, urls=urls, processes=processes, verify=verify, via=via)
    finally:
        with contextlib.suppress(Exception):
            stop_embedded()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(home, ignore_errors=True)


Topology = tuple[dict[str, str], dict[str, list[subprocess.Popen[bytes]]], ssl.SSLContext | bool]


@contextmanager
def _direct(home: Path, env: dict[str, str]) -> Iterator[Topology]:
    """The IdP and one `supplychain serve` process per server, each on a free loopback port."""
    ports = {name: free_port() for name in ("idp", *SERVERS)}
    issuer = f"http://127.0.0.1:{ports['idp']}"
    urls = {name: f"http://127.0.0.1:{ports[name]}/mcp" for name in SERVERS}
    env |= {"SUPPLYCHAIN_IDP_PORT": str(ports["idp"]), "SUPPLYCHAIN_IDP_RESOURCES": json.dumps(urls)}
    for name in SERVERS:
        env |= {f"{entry(name).env_prefix}PORT": str(ports[name]), f"{entry(name).env_prefix}ISSUER_URL": issuer}
    os.environ.update(env)  # the IdP settings this process mints tokens with are the IdP's own
    ready = {name: f"http://127.0.0.1:{ports[name]}/.well-known/oauth-protected-resource/mcp" for name in SERVERS}
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args, url in [
            ("idp", ("idp", "serve"), f"{issuer}/.well-known/oauth-authorization-server"),
            *[(s, ("serve", s, "--transport", "http"), ready[s]) for s in SERVERS],
        ]:
            log = home / f"{name}.log"
            with log.open("wb") as stderr:
                started[name] = subprocess.Popen(_command(*args), env=env, stdout=subprocess.DEVNULL, stderr=stderr)  # noqa: S603
            try:
                wait_until_answering([url], [started[name]], 60, log=log)
            except StartFailed as failure:
                raise RuntimeError(f"{name}: {failure}") from None
        yield urls, {name: [started[name]] for name in SERVERS}, True
    finally:
        for process in reversed(list(started.values())):
            stop_process(process, timeout=15)


@contextmanager
def _through_gateway(home: Path, env: dict[str, str]) -> Iterator[Topology]:
    """HAProxy (`supplychain.gateway_up.start_gateway`) in front of two replicas of each server, and the IdP."""
    from deployment.registry import replica_address
    from supplychain.devcerts import certs_dir
    from supplychain.gateway_settings import GatewaySettings
    from supplychain.gateway_up import start_gateway

    port, idp_port = free_port(), free_port()
    public_url = f"https://127.0.0.1:{port}"
    backends = {
        server: [
            f"{host}:{free_port(host)}" for host in (replica_address(server, i).rsplit(":", 1)[0] for i in range(2))
        ]
        for server in SERVERS
    }
    settings = GatewaySettings(
        bind=f"127.0.0.1:{port}", public_url=public_url, issuer_url=f"http://127.0.0.1:{idp_port}",
        backends=backends, run_dir=home / "gateway", default_tenant_limit=1_000_000, hard_stop_after_seconds=10,
    )  # fmt: skip
    env |= {
        "SUPPLYCHAIN_IDP_PORT": str(idp_port),
        "SUPPLYCHAIN_IDP_RESOURCES": json.dumps({server: settings.mcp_url(server) for server in SERVERS}),
    }
    os.environ.update(env)  # replicas inherit it; this process mints tokens with the IdP's settings
    gateway = start_gateway(settings, with_idp=True)
    try:
        processes = {s: [r.process for r in gateway.replicas[s] if r.process is not None] for s in SERVERS}
        yield gateway.urls, processes, ssl.create_default_context(cafile=str(certs_dir() / "ca.pem"))
    finally:
        gateway.stop()


def mint(user: str, server: str) -> str:
    """A token for `user` on `server`, signed with the IdP's on-disk key (the environment must be up)."""
    from idp.tokens import mint_access_token

    return mint_access_token(user=user, server=server, scopes=None)
