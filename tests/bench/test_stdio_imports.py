"""A stdio server starts without the HTTP stack: cold start is imports (`supplychain bench --case cold-start`).

Asserts which modules a fresh interpreter has loaded after importing each server, not how long it
took: the HTTP stack (`shared.http`, the rate limiter, the load test) is for phase 2 and 3 only.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.registry import SERVERS

HTTP_ONLY = ("shared.http", "shared.http_gate", "shared.http_guards", "limits", "loadtest", "bench")


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
