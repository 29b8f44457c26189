"""Every MCP server of this deployment, in one table: add a server here and everything else follows.

Each entry is what used to be derived by position in a list or by building strings:
- `name`: the package `servers/<name>`, the Postgres schema and role, the scope prefix `<name>:`, the
  settings prefix `SUPPLYCHAIN_<NAME>_` and the settings class `<Name>Settings` in `server.py`;
- `port`: the HTTP port (the IdP's resource URL, the demo, `claude-config`, compose and the gateway's
  backends all use it);
- `segment`: a small number of its own, never reused, that places its gateway replicas at loopback
  addresses `127.0.0.<10 * segment + replica>` and its compose network at `172.28.<segment>.0/24`;
- `capabilities`: its scopes beyond `<name>:read` (reading) and `<name>:decide` (deciding approvals on
  its page). Which roles hold them is `deployment.policy`'s table, line by line.

`supplychain new-server` inserts a server's entry just above the marked line of `REGISTRY`.

Order is display order only: nothing is derived from a server's position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ServerEntry:
    """One server: see the module docstring for what each field drives."""

    name: str
    port: int
    segment: int
    capabilities: tuple[str, ...] = ()

    @property
    def read_scope(self) -> str:
        return f"{self.name}:read"

    @property
    def decide_scope(self) -> str:
        return f"{self.name}:decide"

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope this server defines: reading, its capabilities and deciding."""
        return frozenset({self.read_scope, self.decide_scope, *self.capabilities})

    @property
    def env_prefix(self) -> str:
        return f"SUPPLYCHAIN_{self.name.upper()}_"

    @property
    def settings_class_name(self) -> str:
        """The settings class its `servers/<name>/server.py` defines: `<Name>Settings`."""
        return f"{self.name.capitalize()}Settings"

    @property
    def module(self) -> str:
        """The module holding its settings class, `TOOLS` and `INSTRUCTIONS`."""
        return f"servers.{self.name}.server"


REGISTRY: Mapping[str, ServerEntry] = MappingProxyType(
    {
        entry.name: entry
        for entry in (
            ServerEntry("inventory", port=8101, segment=1, capabilities=("inventory:reorder",)),
            ServerEntry("logistics", port=8102, segment=2, capabilities=("logistics:reroute",)),
            ServerEntry("returns", port=8103, segment=3, capabilities=("returns:write",)),
            ServerEntry("payments", port=8104, segment=4, capabilities=("payments:release", "payments:refund")),
            # `supplychain new-server` adds its entries above this line.
        )
    }
)

SERVERS: tuple[str, ...] = tuple(REGISTRY)

# The dev authorization server's default port. `--base-port B` (on `demo`, `serve`, `idp serve` and
# `idp token`) moves it to B and every server by the same distance, so a server's port is still its own,
# never its position.
IDP_PORT = 8100
# The HAProxy gateway's default port (phase 3): every server's public address is `<gateway>/<server>/mcp`.
GATEWAY_PORT = 8443


def entry(name: str) -> ServerEntry:
    """The registry entry of server `name`; a clear error for a name that is not registered."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown server {name!r}; choose one of {', '.join(SERVERS)}") from None


def port_from(name: str, base_port: int) -> int:
    """Server `name`'s port in a stack whose authorization server is on `base_port` (`IDP_PORT`: its own)."""
    return base_port + entry(name).port - IDP_PORT


def loopback_issuer(base_port: int) -> str:
    """The dev authorization server's issuer in a loopback stack whose base is `base_port`."""
    return f"http://127.0.0.1:{base_port}"


def loopback_resources(base_port: int) -> dict[str, str]:
    """Every server's canonical resource URL (RFC 8707) in a loopback stack whose base is `base_port`."""
    return {name: f"http://127.0.0.1:{port_from(name, base_port)}/mcp" for name in SERVERS}


def replica_address(name: str, replica: int, port: int | None = None) -> str:
    """The default loopback address of replica `replica` (0-based) of server `name`, behind the gateway."""
    server = entry(name)
    return f"127.0.0.{10 * server.segment + replica + 1}:{port or server.port}"
