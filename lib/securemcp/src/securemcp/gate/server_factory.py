"""One factory for every server: an `MCPServer` from its settings, its tool table and its instructions.

Nothing runs at import or when the server is built: the lifespan opens the database engine when the
server starts serving (`securemcp.runtime.caller.server_lifespan`). The same server serves stdio
(`local_identity` is the caller) and Streamable HTTP (`token_verifier` checks each bearer token; the
HTTP stack around it is `securemcp.http.app`).
"""

from __future__ import annotations

from mcp.server.auth.provider import TokenVerifier
from mcp.server.mcpserver import MCPServer

from securemcp.gate.deferred_approvals import install_approval_paths
from securemcp.gate.tool_table import ToolTable, approval_executors, register_tools
from securemcp.identity.principal import Identity
from securemcp.identity.resource_server import request_state_security, resource_server_auth
from securemcp.runtime.caller import ServerState, server_lifespan
from securemcp.settings import ServerSettings


def build_server(
    settings: ServerSettings,
    tools: ToolTable,
    *,
    instructions: str,
    local_identity: Identity | None = None,
    token_verifier: TokenVerifier | None = None,
    version: str = "0.1.0",
) -> MCPServer[ServerState]:
    """The server `settings` name, offering `tools`; refuses at once a table or setting that lets something slip."""
    server: MCPServer[ServerState] = MCPServer(
        settings.server_name,
        version=version,
        instructions=instructions,
        lifespan=server_lifespan(settings, local_identity),
        token_verifier=token_verifier,
        auth=resource_server_auth(settings) if token_verifier is not None else None,
        request_state_security=request_state_security(settings),  # shared by replicas (phase 3)
    )
    register_tools(server, tools, settings)
    # After the gate, so the deferred answers sit inside it (`securemcp.gate.deferred_approvals`).
    install_approval_paths(server, settings.server_name, approval_executors(tools, settings))
    return server
