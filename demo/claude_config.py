"""Claude Desktop configuration for phase 1: each server a local stdio subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.tenants import USERS
from shared.policy import SERVERS


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
