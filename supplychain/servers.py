"""Find a server package by name: its settings class, tool table and instructions, and build it."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mcp import StdioServerParameters
from securemcp.settings import ServerSettings

from deployment.registry import entry

if TYPE_CHECKING:
    from mcp.server.auth.provider import TokenVerifier
    from mcp.server.mcpserver import MCPServer
    from securemcp.approvals.pending import ApprovableTool
    from securemcp.http.app import Issuer  # the HTTP stack is loaded only when a server serves HTTP
    from securemcp.identity.principal import Identity
    from securemcp.runtime.caller import ServerState


def server_module(name: str) -> ModuleType:
    """`servers.<name>.server`, for a server in the registry."""
    return import_module(entry(name).module)


def load_settings(name: str, **overrides: Any) -> ServerSettings:
    """The server's settings from its own environment prefix, with explicit overrides on top."""
    settings_class: type[ServerSettings] = getattr(server_module(name), entry(name).settings_class_name)
    return settings_class(**overrides)


def server_for(
    settings: ServerSettings, *, local_identity: Identity | None = None, token_verifier: TokenVerifier | None = None
) -> MCPServer[ServerState]:
    """The server `settings` describe, from its package's `TOOLS` and `INSTRUCTIONS` (`securemcp.gate.server_factory`).

    `local_identity` is the caller over stdio; over HTTP `token_verifier` checks each token.
    """
    from securemcp.gate.server_factory import build_server

    module = server_module(settings.server_name)
    return build_server(
        settings, module.TOOLS, instructions=module.INSTRUCTIONS, local_identity=local_identity,
        token_verifier=token_verifier,
    )  # fmt: skip


def approval_executors(settings: ServerSettings) -> dict[str, ApprovableTool]:
    """What the approval pages of `settings`' server run once a person decides (its side effects)."""
    from securemcp.gate.tool_table import approval_executors as executors_of

    return executors_of(server_module(settings.server_name).TOOLS, settings)


def http_app(name: str, settings: ServerSettings, *, issuer: Issuer | None = None) -> Any:
    """The ASGI app serving server `name` over Streamable HTTP as an OAuth 2.1 resource server.

    `issuer` (default: a new one for `settings`) lets a caller, such as a test, watch its key set.
    """
    from securemcp.http.app import Issuer, build_http_app

    issuer = issuer or Issuer(settings)
    server = server_for(settings, token_verifier=issuer.verifier())
    rules = {tool.name: tool.rule for tool in server_module(name).TOOLS}
    return build_http_app(server, settings=settings, issuer=issuer, rules=rules)


def server_parameters(server: str, user: str) -> StdioServerParameters:
    """`server` as a stdio subprocess acting as fixture user `user` (the demo's and the tests' local agent)."""
    import os
    import sys

    from securemcp.settings import home_dir

    from fixtures.tenants import USERS

    if user not in USERS:
        raise ValueError(f"unknown user {user!r}; fixture users: {', '.join(sorted(USERS))}")
    tenant, roles = USERS[user]
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env.update(
        {
            "SUPPLYCHAIN_HOME": str(home_dir()),
            "SUPPLYCHAIN_TENANT": tenant,
            "SUPPLYCHAIN_USER": user,
            "SUPPLYCHAIN_ROLES": ",".join(roles),
        }
    )
    return StdioServerParameters(
        command=sys.executable, args=["-m", "supplychain.cli", "serve", server, "--transport", "stdio"], env=env
    )
