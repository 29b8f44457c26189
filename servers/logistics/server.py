"""The logistics MCP server: its tool table, its instructions and its settings; nothing runs at import.

The tool table below is the whole access policy of this server: which scope each tool needs and, for
a side effect, its approval level (declared with the side effect in `tools.py`). The library's
`securemcp.gate.server_factory.build_server` registers it, refuses at start-up a table that would let
something slip through, and installs the gate that enforces it on every call.
"""

from __future__ import annotations

from mcp.types import ToolAnnotations
from pydantic_settings import SettingsConfigDict
from securemcp.gate.common_tools import common_tools
from securemcp.gate.tool_table import ReadTool, ToolTable
from securemcp.settings import ServerSettings

from deployment.policy import POLICY
from deployment.registry import entry
from servers.logistics import tools

NAME = "logistics"

INSTRUCTIONS = (
    "Shipments, their tracking events and the carriers of the caller's organisation. "
    "Rerouting a shipment to another warehouse needs a human's approval."
)

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

TOOLS: ToolTable = (
    ReadTool(tools.list_carriers, "logistics:read", READ, "List carriers"),
    ReadTool(tools.list_shipments, "logistics:read", READ, "List shipments"),
    ReadTool(tools.track_shipment, "logistics:read", READ, "Track a shipment"),
    tools.reroute_shipment,  # a side effect: scope, level, question and effect in one declaration (tools.py)
    *common_tools(NAME),  # activity log and reading one's approvals (securemcp.gate.common_tools)
)


class LogisticsSettings(ServerSettings):
    server_name = NAME
    default_port = entry(NAME).port
    policy = POLICY
    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_LOGISTICS_", extra="forbid", frozen=True)
