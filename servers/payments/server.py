"""The payments MCP server: its tool table, its instructions and its settings; nothing runs at import.

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
from servers.payments import tools

NAME = "payments"

INSTRUCTIONS = (
    "Supplier payments and customer charges of the caller's organisation, amounts as exact "
    "decimal strings with a currency. Releasing a payment or issuing a refund needs a human's approval."
)

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

TOOLS: ToolTable = (
    ReadTool(tools.list_payments, "payments:read", READ, "List supplier payments"),
    ReadTool(tools.get_payment, "payments:read", READ, "Get a supplier payment"),
    ReadTool(tools.list_charges, "payments:read", READ, "List customer charges"),
    ReadTool(tools.get_charge, "payments:read", READ, "Get a customer charge"),
    tools.release_payment,  # side effects: scope, level, question and effect in one declaration each (tools.py)
    tools.issue_refund,
    *common_tools(NAME),  # activity log and reading one's approvals (securemcp.gate.common_tools)
)


class PaymentsSettings(ServerSettings):
    server_name = NAME
    default_port = entry(NAME).port
    policy = POLICY
    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_PAYMENTS_", extra="forbid", frozen=True)
