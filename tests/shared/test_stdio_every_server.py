"""Phase 1 for every registered server: stdout carries only protocol messages, and a bad start says why.

Each server's own `tests/<server>/test_stdio.py` runs its tools over stdio; what every server must do
alike is here, once, over the registry (a new server is covered without a line of its own).
"""

from __future__ import annotations

import json

import anyio
import pytest

from deployment.registry import SERVERS, entry
from tests.helpers import local_identity, serve_command, stdio_env
from tests.server_cases import cases

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]


def _someone(server: str) -> dict[str, str]:
    return local_identity(cases(server).FUZZ_USER)


@pytest.mark.parametrize("server", SERVERS)
async def test_stdout_carries_only_protocol_messages(server: str) -> None:
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    with anyio.fail_after(60):
        done = await anyio.run_process(
            serve_command(server), input=(json.dumps(request) + "\n").encode(),
            env=stdio_env(**_someone(server)), check=False,
        )  # fmt: skip
    lines = [line for line in done.stdout.decode().splitlines() if line.strip()]
    assert lines, done.stderr.decode()
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == server


def _bad_starts(server: str) -> list[tuple[dict[str, str], str]]:
    """(the environment beyond the identity, the one line the server must refuse to start with)."""
    prefix = entry(server).env_prefix
    return [
        ({"SUPPLYCHAIN_TENANT": ""}, "local identity not configured: set SUPPLYCHAIN_TENANT"),
        ({"SUPPLYCHAIN_ROLES": "superuser"}, "unknown role 'superuser'"),
        ({"SUPPLYCHAIN_TENANT": "ACME;drop"}, "malformed tenant id 'ACME;drop'"),
        ({f"{prefix}READONLY": "true"}, f"unknown setting(s) {prefix}READONLY"),
        ({f"{prefix}DATABASE_URL_FILE": "/nonexistent/dsn"}, f"no database credential for {server}"),
        ({"SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK": "stdout"}, "stdout is the MCP channel"),
        ({"SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK": "relative/file"}, "SINK must be 'file', 'stdout' or an absolute path"),
        ({"SUPPLYCHAIN_AUDIT_CHECKPOINT_INTERVAL": "5"}, "unknown setting(s) SUPPLYCHAIN_AUDIT_CHECKPOINT_INTERVAL"),
    ]


@pytest.mark.parametrize(
    ("server", "env", "reason"), [(server, *case) for server in SERVERS for case in _bad_starts(server)]
)
async def test_server_refuses_to_start_with_a_one_line_reason(server: str, env: dict[str, str], reason: str) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process(
            serve_command(server), input=b"", env=stdio_env(**{**_someone(server), **env}), check=False
        )
    assert done.returncode == 2
    assert done.stdout == b""
    assert len(done.stderr.decode().strip().splitlines()) == 1
    assert reason in done.stderr.decode()
