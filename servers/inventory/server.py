"""The inventory MCP server: `build_server(settings)` registers tools; nothing runs at import.

The tool table below is the whole access policy of this server: which scope each tool needs and
whether it has a side effect. `securemcp.gate.tool_gate.register_tools` checks at start-up that every side effect
asks a human, and installs the gate that enforces the scopes on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from securemcp.levels import Level
from securemcp.runtime.caller import ServerState, server_lifespan
from securemcp.settings import ServerSettings

from deployment.policy import POLICY
from deployment.registry import entry
from servers.inventory import tools

NAME = "inventory"

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
REORDER = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)

LARGE_REORDER = 5000  # units: a reorder above this needs the requester's signed-in yes on the page


def large_reorder(arguments: Mapping[str, Any]) -> Level | None:
    """create_reorder above LARGE_REORDER units is `verified` (arguments not yet validated: never raises)."""
    quantity = arguments.get("quantity")
    # Fail closed: pydantic later accepts "6000" or 6000.0 as 6000, so only a plain small int stays `confirm`.
    small = type(quantity) is int and quantity <= LARGE_REORDER
    return None if small else "verified"


TOOLS: dict[Callable[..., Any], ToolSpec] = {
    tools.list_warehouses: ToolSpec(ToolRule("inventory:read"), READ, "List warehouses"),
    tools.list_stock_levels: ToolSpec(ToolRule("inventory:read"), READ, "List stock levels"),
    tools.get_stock_level: ToolSpec(ToolRule("inventory:read"), READ, "Get a stock level"),
    tools.list_reorders: ToolSpec(ToolRule("inventory:read"), READ, "List reorders"),
    # Approval levels and why: README "Approval levels". A large reorder commits real money: verified.
    tools.create_reorder: ToolSpec(
        ToolRule("inventory:reorder", side_effect=True, level="confirm", raise_level=large_reorder),
        REORDER,
        "Create a reorder",
    ),
    tools.cancel_reorder: ToolSpec(
        ToolRule("inventory:reorder", side_effect=True, level="confirm"), CANCEL, "Cancel a reorder"
    ),
    **common_tools(NAME),  # activity log and reading one's approvals (securemcp.gate.common_tools)
}


class InventorySettings(ServerSettings):
    server_name = NAME
    default_port = entry(NAME).port
    policy = POLICY
    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_INVENTORY_", extra="forbid", frozen=True)


def build_server(
    settings: InventorySettings, *, local_identity: Identity | None = None, token_verifier: TokenVerifier | None = None
) -> MCPServer[ServerState]:
    """The inventory server: `local_identity` is the stdio caller; over HTTP `token_verifier` checks tokens."""

    server: MCPServer[ServerState] = MCPServer(
        NAME,
        version="0.1.0",
        instructions=(
            "Stock levels, warehouses and purchase reorders of the caller's organisation. "
            "Creating or cancelling a reorder needs a human's approval."
        ),
        lifespan=server_lifespan(settings, local_identity),
        token_verifier=token_verifier,
        auth=resource_server_auth(settings) if token_verifier is not None else None,
        request_state_security=request_state_security(settings),  # shared by replicas (phase 3)
    )
    register_tools(server, TOOLS, settings)
    install_approval_paths(server, NAME, tools.APPROVABLE)
    return server
