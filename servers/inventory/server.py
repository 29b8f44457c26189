"""The inventory MCP server: its tool table, its instructions and its settings; nothing runs at import.

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
from servers.inventory import tools

NAME = "inventory"

INSTRUCTIONS = (
    "Stock levels, warehouses and purchase reorders of the caller's organisation. "
    "Creating or cancelling a reorder needs a human's approval."
)

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

TOOLS: ToolTable = (
    ReadTool(tools.list_warehouses, "inventory:read", READ, "List warehouses"),
    ReadTool(tools.list_stock_levels, "inventory:read", READ, "List stock levels"),
    ReadTool(tools.get_stock_level, "inventory:read", READ, "Get a stock level"),
    ReadTool(tools.list_reorders, "inventory:read", READ, "List reorders"),
    tools.create_reorder,  # side effects: scope, level, question and effect in one declaration each (tools.py)
    tools.cancel_reorder,
    *common_tools(NAME),  # activity log and reading one's approvals (securemcp.gate.common_tools)
)


class InventorySettings(ServerSettings):
    server_name = NAME
    default_port = entry(NAME).port
    policy = POLICY
    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_INVENTORY_", extra="forbid", frozen=True)
