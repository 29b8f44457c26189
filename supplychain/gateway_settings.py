"""Settings of the phase 3 gateway (`SUPPLYCHAIN_GATEWAY_*`): where it listens, whom it fronts, its limits.

The public URL is what clients and tokens see: each server's MCP endpoint is `<public_url>/<server>/mcp`,
which is also that server's token audience (RFC 8707) and its `..._PUBLIC_URL`. Backends default to two
replicas per server on their own loopback addresses (inventory 127.0.0.11 and .12, logistics .21 and
.22, ...), never the gateway's 127.0.0.1. Unknown `SUPPLYCHAIN_GATEWAY_*` variables stop start-up.

The per-tenant rate limit at the edge is the authoritative one (a server's own `RATE_LIMIT` counts per
process). Several gateway nodes share its counters when `peers` names every node (this one too) and
`local_peer` says which one this is; they talk mutual TLS with certificates of their own CA
(`peers_ca_file`, `peers_certfile`, `peers_keyfile`; the dev CA and certificate when all are unset and
the gateway uses the dev certificates), never of the public CA that signs the gateway's certificate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from securemcp.settings import SettingsError, home_dir, reject_unknown_variables

from deployment.registry import GATEWAY_PORT, IDP_PORT, REGISTRY, SERVERS, replica_address

ENV_PREFIX = "SUPPLYCHAIN_GATEWAY_"
DEFAULT_PORTS = {name: server.port for name, server in REGISTRY.items()}
# Values the renderer writes into the HAProxy config: nothing that could end a token or a line there.
SAFE_TENANT = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
SAFE_ADDRESS = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,255}:\d{1,5}$")
SAFE_PATH = re.compile(r"^[A-Za-z0-9._/+-]+$")
SAFE_PEER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class GatewaySettings(BaseSettings):
    """Everything `supplychain gateway render` and `gateway up` need (see the module docstring)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    bind: str = Field(default=f"127.0.0.1:{GATEWAY_PORT}", pattern=SAFE_ADDRESS.pattern)
    public_url: str = Field(default=f"https://127.0.0.1:{GATEWAY_PORT}", pattern=r"^https://[A-Za-z0-9.:\[\]-]+$")
    issuer_url: str = Field(default=f"http://127.0.0.1:{IDP_PORT}", pattern=r"^https?://[A-Za-z0-9.:\[\]/_-]+$")
    jwks_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    allowed_origins: list[str] = []
    tenant_limits: dict[str, int] = {}
    default_tenant_limit: int = Field(default=100, ge=1, le=1_000_000)
    rate_period_seconds: int = Field(default=10, ge=1, le=3600)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=16 * 1024 * 1024)
    leeway_seconds: int = Field(default=30, ge=0, le=30)
    replicas: int = Field(default=2, ge=1, le=9)
    backends: dict[str, list[str]] = {}
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    run_dir: Path | None = None
    hard_stop_after_seconds: int = Field(default=60, ge=1, le=86_400)
    # Gateway nodes sharing the per-tenant counters: name -> host:port of its peers listener, every node.
    peers: dict[str, str] = {}
    local_peer: str | None = None
    peers_ca_file: Path | None = None
    peers_certfile: Path | None = None
    peers_keyfile: Path | None = None

    def __init__(self, **values: Any) -> None:
        reject_unknown_variables(ENV_PREFIX, type(self).model_fields)
        super().__init__(**values)

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or not origin.isprintable():
                raise ValueError(f"an origin is scheme://host[:port], got {origin!r}")
        return origins

    @field_validator("tenant_limits")
    @classmethod
    def _check_limits(cls, limits: dict[str, int]) -> dict[str, int]:
        bad = sorted(tenant for tenant, limit in limits.items() if not SAFE_TENANT.match(tenant) or limit < 0)
        if bad:
            raise ValueError(f"tenant limits need tenant ids like 'acme' and limits >= 0: {bad}")
        return limits

    @field_validator("backends")
    @classmethod
    def _check_backends(cls, backends: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(backends) - set(SERVERS))
        if unknown:
            raise ValueError(f"unknown server(s) {unknown}; servers: {', '.join(SERVERS)}")
        for server, addresses in backends.items():
            if not addresses or not all(SAFE_ADDRESS.match(address) for address in addresses):
                raise ValueError(f"backends of {server} must be one or more host:port, got {addresses!r}")
        return backends

    @field_validator("peers")
    @classmethod
    def _check_peers(cls, peers: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name, at in peers.items() if not SAFE_PEER.match(name) or not SAFE_ADDRESS.match(at))
        if bad:
            raise ValueError(f"peers are name -> host:port, names like 'gw1': {bad}")
        return peers

    @model_validator(mode="after")
    def _check_local_peer(self) -> GatewaySettings:
        if (self.local_peer is not None or self.peers) and self.local_peer not in self.peers:
            raise ValueError(f"local_peer {self.local_peer!r} must be one of the peers {sorted(self.peers)}")
        own = (self.peers_ca_file, self.peers_certfile, self.peers_keyfile)
        if self.peers and any(own) and not all(own):
            raise ValueError("set all of PEERS_CA_FILE, PEERS_CERTFILE and PEERS_KEYFILE, or none")
        if self.peers and not any(own) and self.tls_certfile is not None:
            raise ValueError(
                "peers need their own CA: set PEERS_CA_FILE, PEERS_CERTFILE and PEERS_KEYFILE (a public CA that "
                "signs the gateway's certificate would let anyone with one of its certificates join)"
            )
        return self

    @property
    def folder(self) -> Path:
        """The run folder: the rendered config, keys, maps, TLS bundle and logs."""
        folder = (self.run_dir or home_dir() / "gateway").resolve()
        if not SAFE_PATH.match(str(folder)):
            raise SettingsError(f"the gateway run folder {folder} has characters HAProxy paths cannot carry")
        return folder

    @property
    def public_host(self) -> str:
        """The Host header clients send to the gateway (host:port as in the public URL)."""
        return urlsplit(self.public_url).netloc

    def mcp_url(self, server: str) -> str:
        """`server`'s MCP endpoint behind the gateway: also its token audience and its PUBLIC_URL."""
        return f"{self.public_url}/{server}/mcp"

    def metadata_url(self, server: str) -> str:
        """`server`'s RFC 9728 metadata behind the gateway (path-inserted well-known URI)."""
        return f"{self.public_url}/.well-known/oauth-protected-resource/{server}/mcp"

    def backend_addresses(self, server: str) -> list[str]:
        """The replicas of `server`: configured, or `replicas` default loopback addresses."""
        return self.backends.get(server) or [replica_address(server, index) for index in range(self.replicas)]
