"""Claude Desktop configurations: phase 1 (local stdio subprocesses) and phase 2 (remote HTTP servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployment.registry import SERVERS
from fixtures.tenants import USERS


def stdio_config(
    *, repo: Path, home: Path, user: str, tenant: str | None, roles: tuple[str, ...] | None, read_only: bool
) -> dict[str, Any]:
    """`mcpServers` entries that run every server under the given local identity."""
    if tenant is None or roles is None:
        tenant, roles = USERS[user]
    args_tail = ["--read-only"] if read_only else []
    return {
        "mcpServers": {
            f"supplychain-{server}": {
                "command": "uv",
                "args": [
                    "run",
                    "--directory",
                    str(repo),
                    "supplychain",
                    "serve",
                    server,
                    "--transport",
                    "stdio",
                    *args_tail,
                ],
                "env": {
                    "SUPPLYCHAIN_HOME": str(home),
                    "SUPPLYCHAIN_TENANT": tenant,
                    "SUPPLYCHAIN_USER": user,
                    "SUPPLYCHAIN_ROLES": ",".join(roles),
                },
            }
            for server in SERVERS
        }
    }


def http_config(*, server_urls: dict[str, str]) -> dict[str, Any]:
    """`mcpServers` entries that reach each HTTP server through `mcp-remote` (a stdio-to-HTTP bridge).

    `mcp-remote` does what the MCP authorization spec asks of a client: it reads the server's RFC 9728
    metadata, registers with the authorization server (RFC 7591), and opens the browser for login
    and consent with PKCE and a resource indicator. No credential appears in this file.
    """
    return {
        "mcpServers": {
            f"supplychain-{server}": {"command": "npx", "args": ["-y", "mcp-remote@0.15", url]}
            for server, url in server_urls.items()
        }
    }
