"""What the benchmark measures: the floor, the bare servers, our secured server, and the gateway.

Each target is started once per run as its own process (the floor runs in this process) and stays
up while the runner interleaves measurements across targets. Our server is started exactly as
`supplychain serve inventory --transport http` starts it, with tokens from the dev IdP (also a
process of its own); its rate limit is raised so that the benchmark measures the limiter's cost,
not its refusals.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import psutil

from bench.environment import BenchDatabase, child_environment, tenant_name, user_of
from bench.processes import Cores, Process, pin_pid, python_command, running
from supplychain.processes import free_port

BENCH_RATE_LIMIT = "1000000/second"
TOOL = "get_stock_level"


@dataclass
class Issuer:
    """The dev IdP process, and what this process needs to mint its tokens."""

    url: str
    resources: dict[str, str]
    process: Process | None

    def token(self, tenant: str, server: str = "inventory") -> str:
        """A real access token for `bench@<tenant>` on `server`, signed with the IdP's on-disk key."""
        from idp.keys import KeyRing
        from idp.settings import IdpSettings
        from idp.tokens import DEV_CLI_CLIENT_ID, Subject, grant_scopes, issue_access_token, new_grant_id

        subject = Subject(sub=user_of(tenant), tenant_id=tenant, roles=("supply_chain_manager",))
        port = int(self.url.rsplit(":", 1)[1])
        settings = IdpSettings(port=port, resources=self.resources)
        scopes = grant_scopes(requested=None, roles=subject.roles, server=server)
        return issue_access_token(
            settings=settings,
            keys=KeyRing(),
            subject=subject,
            client_id=DEV_CLI_CLIENT_ID,
            server=server,
            scopes=scopes,
            grant_id=new_grant_id(),
        ).token


@dataclass
class Endpoint:
    """A running HTTP target: where to send requests and how to authenticate them."""

    name: str
    host: str
    port: int
    path: str
    process: Process | None
    issuer: Issuer | None = None  # None: the target takes no token (bare servers)
    tls: ssl.SSLContext | None = None

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"

    def token(self, tenant: str) -> str | None:
        return self.issuer.token(tenant) if self.issuer is not None else None


@dataclass
class Context:
    """Shared by all targets of a run."""

    database: BenchDatabase
    cores: Cores
    logs: Path


@contextmanager
def dev_idp(context: Context, resources: dict[str, str]) -> Iterator[Issuer]:
    from idp.keys import KeyRing

    KeyRing().signing_key()  # made here, before the IdP starts, so both sign and publish the same key
    port = free_port()
    env = child_environment({"SUPPLYCHAIN_IDP_PORT": str(port), "SUPPLYCHAIN_IDP_RESOURCES": json.dumps(resources)})
    url = f"http://127.0.0.1:{port}"
    with running(
        "idp",
        python_command("-m", "supplychain.cli", "idp", "serve"),
        url=url,
        ready_url=f"{url}/.well-known/oauth-authorization-server",
        env=env,
        cores=None,
        log=context.logs / "idp.log",
    ) as process:
        yield Issuer(url=url, resources=resources, process=process)


def secured_command(port: int, *, workers: int = 1) -> list[str]:
    extra = ["--workers", str(workers)] if workers > 1 else []
    return python_command(
        "-m", "supplychain.cli", "serve", "inventory", "--transport", "http", "--port", str(port), *extra
    )


@contextmanager
def secured_server(
    context: Context,
    issuer: Issuer,
    port: int,
    *,
    name: str = "secured",
    workers: int = 1,
    cores: tuple[int, ...] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Endpoint]:
    """Our inventory server as `supplychain serve inventory --transport http` runs it."""
    env = child_environment(
        {
            "SUPPLYCHAIN_INVENTORY_ISSUER_URL": issuer.url,
            "SUPPLYCHAIN_INVENTORY_RATE_LIMIT": BENCH_RATE_LIMIT,
            **(extra_env or {}),
        }
    )
    url = f"http://127.0.0.1:{port}/mcp"
    with running(
        name,
        secured_command(port, workers=workers),
        url=url,
        ready_url=f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp",
        env=env,
        cores=cores if cores is not None else context.cores.server,
        log=context.logs / f"{name}.log",
    ) as process:
        wait_until_token_accepted(url, issuer.token(tenant_name(0)))
        yield Endpoint(name=name, host="127.0.0.1", port=port, path="/mcp", process=process, issuer=issuer)


def wait_until_token_accepted(
    url: str, token: str, timeout: float = 30.0, verify: ssl.SSLContext | bool = True
) -> None:
    """The server refuses every token until it has the issuer's keys and revocation list."""
    deadline = time.monotonic() + timeout
    with httpx2.Client(timeout=5, verify=verify) as http:
        while time.monotonic() < deadline:
            if http.post(url, headers={"Authorization": f"Bearer {token}"}, content=b"{}").status_code != 401:
                return
            time.sleep(0.05)
    raise RuntimeError(f"{url} never accepted a valid token")


@contextmanager
def bare_server(context: Context, kind: str) -> Iterator[Endpoint]:
    """`python -m bench.bare <kind>`: the same query, no security."""
    port = free_port()
    env = child_environment({"BENCH_DSN": context.database.server_dsn(), "BENCH_TENANT": tenant_name(0)})
    url = f"http://127.0.0.1:{port}/mcp"
    name = f"bare {kind}"
    with running(
        name,
        python_command("-m", "bench.bare", kind, "--port", str(port)),
        url=url,
        ready_url=url,
        env=env,
        cores=context.cores.server,
        ready_status=(200, 400, 405, 406),
        log=context.logs / f"bare-{kind}.log",
    ) as process:
        yield Endpoint(name=name, host="127.0.0.1", port=port, path="/mcp", process=process)


def gateway_available() -> str | None:
    """None when the phase 3 gateway can run here, else why not."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("supplychain.gateway_up") is None:
        return "gateway not available"
    if shutil.which("haproxy") is None:
        return "gateway not available (haproxy is not installed)"
    return None


@contextmanager
def behind_gateway(context: Context) -> Iterator[Endpoint]:
    """Our inventory server behind the HAProxy gateway, started by the gateway's own `start_gateway`.

    One replica per server on free ports, the gateway's own dev IdP (token audiences are the public
    URLs), TLS at the gateway with the dev CA, and rate limits raised at both layers. The inventory
    replica and HAProxy are pinned like the other servers.
    """
    from deployment.registry import SERVERS, replica_address
    from supplychain.gateway_settings import GatewaySettings
    from supplychain.gateway_up import start_gateway

    port, idp_port = free_port(), free_port()
    backends = {}
    for server in SERVERS:
        host = replica_address(server, 0).rsplit(":", 1)[0]  # the gateway's own replica addresses
        backends[server] = [f"{host}:{free_port(host)}"]
    settings = GatewaySettings(
        bind=f"127.0.0.1:{port}",
        public_url=f"https://127.0.0.1:{port}",
        issuer_url=f"http://127.0.0.1:{idp_port}",
        default_tenant_limit=1_000_000,
        rate_period_seconds=1,
        replicas=1,
        backends=backends,
        run_dir=context.logs.parent / "gateway",
    )
    os.environ["SUPPLYCHAIN_INVENTORY_RATE_LIMIT"] = BENCH_RATE_LIMIT  # the replicas inherit this environment
    try:
        # start_gateway runs its own event loop (anyio.run): give it a thread of its own.
        with ThreadPoolExecutor(max_workers=1) as thread:
            gateway = thread.submit(start_gateway, settings, with_idp=True).result()
    finally:
        os.environ.pop("SUPPLYCHAIN_INVENTORY_RATE_LIMIT", None)
    try:
        replica = gateway.replicas["inventory"][0]
        assert replica.process is not None
        for pid in (replica.process.pid, gateway.haproxy.pid, *psutil.Process(gateway.haproxy.pid).children()):
            pin_pid(pid if isinstance(pid, int) else pid.pid, context.cores.server)
        resources = {server: settings.mcp_url(server) for server in SERVERS}
        issuer = Issuer(url=settings.issuer_url, resources=resources, process=None)
        url = settings.mcp_url("inventory")
        wait_until_token_accepted(url, issuer.token(tenant_name(0)), verify=gateway_ca())
        process = Process(label="secured + gateway", popen=replica.process, url=url)
        yield Endpoint(
            name="secured + gateway",
            host="127.0.0.1",
            port=port,
            path="/inventory/mcp",
            process=process,
            issuer=issuer,
            tls=gateway_ca(),
        )
    finally:
        gateway.stop()


def gateway_ca() -> ssl.SSLContext:
    """Trust for the gateway's dev certificate (made by the gateway under this home)."""
    from supplychain.devcerts import certs_dir

    return ssl.create_default_context(cafile=str(certs_dir() / "ca.pem"))
