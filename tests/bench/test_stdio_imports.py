"""What a server loads at start: cold start is imports (`supplychain bench --case cold-start`), memory too.

Asserts which modules a fresh interpreter has loaded, not how long it took: a stdio server leaves the
HTTP stack (`securemcp.http.app`, the rate limiter, the load test) unloaded, the CLI leaves the commands a
server never runs unloaded, and a built HTTP app leaves the approval pages' Jinja2 unloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from deployment.registry import SERVERS, entry

HTTP_ONLY = ("securemcp.http.app", "securemcp.http.gate", "securemcp.http.guards", "limits", "loadtest", "bench")


@pytest.mark.parametrize("server", SERVERS)
def test_importing_a_server_leaves_the_http_stack_unloaded(server: str) -> None:
    probe = f"import sys, servers.{server}.server; print(','.join(m for m in {HTTP_ONLY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == ""


# Every `supplychain` command, `serve` too, imports the CLI module: the commands a server never runs
# keep their heavy imports inside their bodies (templates, the scaffold's checks, the load test).
SHELL_ONLY = ("jinja2", "supplychain.scaffold.writer", "supplychain.scaffold.names", "loadtest.run", "bench.suite")


def test_importing_the_cli_leaves_the_other_commands_unloaded() -> None:
    probe = f"import sys, supplychain.cli; print(','.join(m for m in {SHELL_ONLY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == ""


def test_building_the_http_app_leaves_the_page_templates_unloaded() -> None:
    # Jinja2 loads with the first approval page, not with every server (its memory: docs/performance.md).
    server = entry(SERVERS[0])
    probe = (
        "import sys; from supplychain.servers import http_app, load_settings; "
        f"http_app({server.name!r}, load_settings({server.name!r})); print('jinja2' in sys.modules)"
    )
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")
    } | {  # never connected to: building the app opens no connection
        f"{server.env_prefix}DATABASE_URL": "postgresql+asyncpg://nobody:unused@127.0.0.1:1/none",
        f"{server.env_prefix}ISSUER_URL": "http://127.0.0.1:1",
    }
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60, env=env
    ).stdout.strip()
    assert loaded == "False"
