"""`supplychain gateway up`: the phase 3 topology on this machine, and `start_gateway` for tests and benchmarks.

Processes, each its own (as in a deployment):
- the dev authorization server, unless an issuer is already given (`with_idp=False`), its resources
  (token audiences) being the servers' public URLs behind the gateway;
- every server as `replicas` processes (`supplychain serve <server> --transport http`), each bound to
  its own loopback address (127.0.0.11, .12, .21, ...), never the gateway's, with the gateway mode
  settings: PUBLIC_URL (the audience), BEHIND_GATEWAY, FORWARDED_ALLOW_IPS (the gateway's address
  only) and REQUEST_STATE_KEY_FILE (one key per server, shared by its replicas, 0600, made once);
- HAProxy in master-worker mode (`-W`) on the rendered config; `reload` re-renders and sends the
  master SIGUSR2: a new worker takes over the listening socket and the old one finishes its requests.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from securemcp.observability.logs import LOG_LEVEL_VARIABLE
from securemcp.settings import home_dir, secrets_dir

from deployment.registry import SERVERS, entry
from supplychain.gateway import GatewayError, render_from_issuer
from supplychain.gateway_settings import GatewaySettings
from supplychain.processes import stop_process, wait_until_answering

_CLI = [sys.executable, "-m", "supplychain.cli"]


def request_state_key_file(server: str) -> Path:
    """The key `server`'s replicas share for sealing request state; created once, mode 0600, never logged."""
    path = secrets_dir() / f"{server}-request-state.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written aside, then linked into place: the key file appears whole or not at all (a crash
        # mid-write must not leave an empty key that every replica then refuses).
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(staging, path)  # fails if made meanwhile by another process: use that one
        except FileExistsError:
            pass
        finally:
            staging.unlink()
    return path


def _gateway_address(settings: GatewaySettings) -> str | None:
    """The address the gateway's connections to loopback replicas come from: its own bind address."""
    host = settings.bind.rsplit(":", 1)[0].strip("[]")
    return None if host in ("", "0.0.0.0", "::", "*") else host  # noqa: S104 (compared, not bound)


def replica_environment(settings: GatewaySettings, server: str) -> dict[str, str]:
    """The environment of one replica of `server`: the caller's, plus the gateway mode settings."""
    prefix = entry(server).env_prefix
    env = dict(os.environ) | {
        "SUPPLYCHAIN_HOME": str(home_dir()),
        f"{prefix}PUBLIC_URL": settings.mcp_url(server),
        f"{prefix}ISSUER_URL": settings.issuer_url,
        f"{prefix}BEHIND_GATEWAY": "true",
        f"{prefix}ALLOWED_ORIGINS": json.dumps(settings.allowed_origins),
        f"{prefix}REQUEST_STATE_KEY_FILE": str(request_state_key_file(server)),
    }
    if settings.jwks_url:
        env[f"{prefix}JWKS_URL"] = settings.jwks_url
    gateway = _gateway_address(settings)
    if gateway is not None:
        env[f"{prefix}FORWARDED_ALLOW_IPS"] = gateway
    return env


@dataclass
class Replica:
    """One server process behind the gateway."""

    server: str
    address: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None  # where its stderr (its JSON log lines) goes; None: this process's stderr
    workers: int = 1  # uvicorn worker processes (`serve --workers`), each with its own in-process rate limit

    @property
    def local_url(self) -> str:
        """Its MCP endpoint on its own loopback address (bypassing the gateway)."""
        return f"http://{self.address}/mcp"

    def start(self) -> None:
        host, port = self.address.rsplit(":", 1)
        command = [*_CLI, "serve", self.server, "--transport", "http", "--host", host, "--port", port]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        if self.log is None:
            self.process = subprocess.Popen(command, env=self.env)  # noqa: S603
            return
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(command, env=self.env, stderr=log)  # noqa: S603

    def kill(self) -> None:
        """SIGKILL: the replica vanishes mid-run, as a crash would make it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@dataclass
class Gateway:
    """A running phase 3 topology: public URLs, the replicas, HAProxy, and the handles to change them."""

    settings: GatewaySettings
    replicas: dict[str, list[Replica]]
    haproxy: subprocess.Popen[bytes]
    idp: subprocess.Popen[bytes] | None = None
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.settings.folder

    @property
    def access_log(self) -> Path:
        """HAProxy's access log (its stdout): one line per request, never a token."""
        return self.folder / "access.log"

    def start_replica(self, server: str, index: int, timeout: float = 60) -> None:
        replica = self.replicas[server][index]
        replica.start()
        assert replica.process is not None
        wait_until_answering([_healthz(replica.address)], [replica.process], timeout)

    def replicas_up(self, server: str) -> int:
        """How many of `server`'s replicas HAProxy's health checks hold UP right now (0 if it cannot say)."""
        try:
            state = _master_cli(self.folder, f"@1 show servers state be_{server}")
        except OSError:
            return 0
        rows = [line.split() for line in state.splitlines() if line.strip() and not line.startswith("#")]
        return sum(1 for row in rows if len(row) > 5 and row[1] == f"be_{server}" and row[5] == "2")  # 2: UP

    def reload(self, timeout: float = 30) -> None:
        """Render from the issuer's current keys, then a hitless reload (SIGUSR2 to the master)."""
        render_from_issuer(self.settings)
        before = workers(self.folder)
        self.haproxy.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while not (set(workers(self.folder)) - set(before)):
            if self.haproxy.poll() is not None or time.monotonic() > deadline:
                raise GatewayError(f"HAProxy did not reload (see {self.folder / 'haproxy.log'})")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop HAProxy, every replica and the IdP this topology started."""
        stop_process(self.haproxy)
        for replica in (replica for group in self.replicas.values() for replica in group):
            replica.stop()
        if self.idp is not None:
            stop_process(self.idp)


def _healthz(address: str) -> str:
    return f"http://{address}/healthz"


def _master_cli(folder: Path, command: str) -> str:
    """One command on HAProxy's master CLI socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(folder / "master.sock"))
        sock.sendall(command.encode() + b";quit\n")  # without quit the master keeps the line open
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def workers(folder: Path) -> list[int]:
    """The pids of HAProxy's current workers (not the old ones finishing after a reload)."""
    try:
        listing = _master_cli(folder, "show proc")
    except OSError:
        return []
    current = listing.split("# workers", 1)[-1].split("# old workers", 1)[0]
    return [int(line.split()[0]) for line in current.splitlines() if line.strip() and line.split()[0].isdigit()]


def start_haproxy(settings: GatewaySettings) -> subprocess.Popen[bytes]:
    """HAProxy in master-worker mode on the rendered config; its access log is `access.log` in the run folder."""
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise GatewayError("haproxy is not installed (Debian/Ubuntu: apt-get install haproxy)")
    folder = settings.folder
    command = [haproxy, "-W", "-S", str(folder / "master.sock"), "-p", str(folder / "haproxy.pid")]
    with (folder / "access.log").open("ab") as log, (folder / "haproxy.log").open("ab") as errors:
        process = subprocess.Popen([*command, "-f", str(folder / "haproxy.cfg")], stdout=log, stderr=errors)  # noqa: S603
    deadline = time.monotonic() + 15
    while not workers(folder):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise GatewayError(f"HAProxy did not start: {(folder / 'haproxy.log').read_text(errors='replace')[-800:]}")
        time.sleep(0.05)
    return process


def start_idp_process(settings: GatewaySettings) -> subprocess.Popen[bytes]:
    """The dev authorization server at the settings' issuer URL, its audiences the public URLs."""
    issuer = urlsplit(settings.issuer_url)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_IDP_")}
    env |= {
        "SUPPLYCHAIN_HOME": str(home_dir()),
        "SUPPLYCHAIN_IDP_HOST": issuer.hostname or "127.0.0.1",
        "SUPPLYCHAIN_IDP_PORT": str(issuer.port or (443 if issuer.scheme == "https" else 80)),
        "SUPPLYCHAIN_IDP_RESOURCES": json.dumps({server: settings.mcp_url(server) for server in SERVERS}),
    }
    return subprocess.Popen([*_CLI, "idp", "serve"], env=env)  # noqa: S603


def start_gateway(
    settings: GatewaySettings | None = None,
    *,
    with_idp: bool = True,
    timeout: float = 90,
    replica_log_level: str | None = None,
) -> Gateway:
    """Start the whole topology and return once HAProxy and every replica answer; `Gateway.stop()` ends it.

    With `replica_log_level`, each replica logs at that level to `<server>-<index>.log` in the run folder
    (tests read what a replica saw there) instead of to this process's stderr at WARNING.
    """
    settings = settings or GatewaySettings()
    idp = start_idp_process(settings) if with_idp else None
    replicas = {
        server: [Replica(server, address, replica_environment(settings, server)) for address in addresses]
        for server, addresses in ((server, settings.backend_addresses(server)) for server in SERVERS)
    }
    if replica_log_level is not None:
        for server, group in replicas.items():
            for index, replica in enumerate(group):
                replica.env[LOG_LEVEL_VARIABLE] = replica_log_level
                replica.log = settings.folder / f"{server}-{index}.log"
    try:
        if idp is not None:
            wait_until_answering([f"{settings.issuer_url}/.well-known/oauth-authorization-server"], [idp], timeout)
        settings.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        render_from_issuer(settings)
        for group in replicas.values():
            for replica in group:
                replica.start()
        processes = [r.process for group in replicas.values() for r in group if r.process is not None]
        wait_until_answering([_healthz(r.address) for group in replicas.values() for r in group], processes, timeout)
        return Gateway(
            settings=settings,
            replicas=replicas,
            haproxy=start_haproxy(settings),
            idp=idp,
            urls={server: settings.mcp_url(server) for server in SERVERS},
        )
    except BaseException:
        for group in replicas.values():
            for replica in group:
                replica.stop()
        if idp is not None:
            stop_process(idp)
        raise
