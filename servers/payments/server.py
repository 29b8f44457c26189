"""The payments MCP server: `build_server(settings)` registers tools; nothing runs at import.

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
from servers.payments import tools

NAME = "payments"

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# Both writes change existing rows and move money that cannot be taken back here, so destructive.
# They touch only this server's own database (no bank is called), so not open-world. A second release
# of the same payment is refused (no longer pending): idempotent. Every refund call refunds again: not.
RELEASE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
REFUND = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)

TOOLS: dict[Callable[..., Any], ToolSpec] = {
    tools.list_payments: ToolSpec(ToolRule("payments:read"), READ, "List supplier payments"),
    tools.get_payment: ToolSpec(ToolRule("payments:read"), READ, "Get a supplier payment"),
    tools.list_charges: ToolSpec(ToolRule("payments:read"), READ, "List customer charges"),
    tools.get_charge: ToolSpec(ToolRule("payments:read"), READ, "Get a customer charge"),
    # Approval levels and why: README "Approval levels". Money leaving: a second person says yes.
    tools.release_payment: ToolSpec(
        ToolRule("payments:release", side_effect=True, level="four_eyes"), RELEASE, "Release a supplier payment"
    ),
    tools.issue_refund: ToolSpec(
        ToolRule("payments:refund", side_effect=True, level="four_eyes"), REFUND, "Refund a customer charge"
    ),
    **common_tools(NAME),  # activity log and reading one's approvals (securemcp.gate.common_tools)
}


class PaymentsSettings(ServerSettings):
    server_name = NAME
    default_port = entry(NAME).port
    policy = POLICY
    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_PAYMENTS_", extra="forbid", frozen=True)


def build_server(
    settings: PaymentsSettings, *, local_identity: Identity | None = None, token_verifier: TokenVerifier | None = None
) -> MCPServer[ServerState]:
    """The payments server: `local_identity` is the stdio caller; over HTTP `token_verifier` checks tokens."""

    server: MCPServer[ServerState] = MCPServer(
        NAME,
        version="0.1.0",
        instructions=(
            "Supplier payments and customer charges of the caller's organisation, amounts as exact "
            "decimal strings with a currency. Releasing a payment or issuing a refund needs a human's approval."
        ),
        lifespan=server_lifespan(settings, local_identity),
        token_verifier=token_verifier,
        auth=resource_server_auth(settings) if token_verifier is not None else None,
        request_state_security=request_state_security(settings),  # shared by replicas (phase 3)
    )
    register_tools(server, TOOLS, settings)
    install_approval_paths(server, NAME, tools.APPROVABLE)
    return server
