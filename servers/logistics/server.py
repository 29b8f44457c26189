"""The logistics MCP server: `build_server(settings)` registers tools; nothing runs at import.

The tool table below is the whole access policy of this server: which scope each tool needs and
whether it has a side effect. `securemcp.gate.tool_gate.register_tools` checks at start-up that every side effect
asks a human, and installs the gate that enforces the scopes on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.auth.provider import TokenVerifier
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic_settings import SettingsConfigDict
from securemcp.gate.common_tools import common_tools
from securemcp.gate.deferred_approvals import install_approval_paths
from securemcp.gate.tool_gate import ToolRule, ToolSpec, register_tools
from securemcp.identity.principal import Identity
from securemcp.identity.resource_server import request_state_security, resource_server_auth
from securemcp.runtime.caller import ServerState, server_lifespan
from securemcp.settings import ServerSettings

from deployment.policy import POLICY
from deployment.registry import entry
from servers.logistics import tools

NAME = "logistics"

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# A reroute overwrites the destination (destructive); repeating it changes nothing more, since a shipment
# already headed to that warehouse is refused (idempotent).
REROUTE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)

TOOLS: dict[Callable[..., Any], ToolSpec] = {
    tools.list_carriers: ToolSpec(ToolRule("logistics:read"), READ, "List carriers"),
    tools.list_shipments: ToolSpec(ToolRule("logistics:read"), READ, "List shipments"),
    tools.track_shipment: ToolSpec(ToolRule("logistics:read"), READ, "Track a shipment"),
    # Approval level and why: README "Approval levels". Diverting goods is a classic fraud: verified.
    tools.reroute_shipment: ToolSpec(
        ToolRule("logistics:reroute", side_effect=True, level="verified"), REROUTE, "Reroute a shipment"
    ),
    **common_tools(NAME),  # activity log and reading one's approvals (securemcp.gate.common_tools)
}


class LogisticsSettings(ServerSettings):
    server_name = NAME
    default_port = entry(NAME).port
    policy = POLICY
    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_LOGISTICS_", extra="forbid", frozen=True)


def build_server(
    settings: LogisticsSettings, *, local_identity: Identity | None = None, token_verifier: TokenVerifier | None = None
) -> MCPServer[ServerState]:
    """The logistics server: `local_identity` is the stdio caller; over HTTP `token_verifier` checks tokens."""

    server: MCPServer[ServerState] = MCPServer(
        NAME,
        version="0.1.0",
        instructions=(
            "Shipments, their tracking events and the carriers of the caller's organisation. "
            "Rerouting a shipment to another warehouse needs a human's approval."
        ),
        lifespan=server_lifespan(settings, local_identity),
        token_verifier=token_verifier,
        auth=resource_server_auth(settings) if token_verifier is not None else None,
        request_state_security=request_state_security(settings),  # shared by replicas (phase 3)
    )
    register_tools(server, TOOLS, settings)
    install_approval_paths(server, NAME, tools.APPROVABLE)
    return server
