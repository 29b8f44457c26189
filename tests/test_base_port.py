"""`--base-port`: one option moves the IdP and every server, as a person runs them, in real processes.

`supplychain idp serve --base-port N`, `supplychain serve <server> --transport http --base-port N` and
`supplychain idp token --base-port N`, each a subprocess, on loopback: the server names the IdP at N as
its authorization server and accepts the token minted for that stack, not one minted for the default.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import httpx2
import pytest
from click.testing import CliRunner

from deployment.registry import REGISTRY, port_from
from supplychain.cli import main
from supplychain.processes import stop_process, wait_until_answering
from tests.helpers import free_port_run, stdio_env
from tests.http.rpc import call_tool, result_of

CLI = [sys.executable, "-m", "supplychain.cli"]


@contextmanager
def running(*commands: list[str], probes: list[str]) -> Iterator[None]:
    """`supplychain <command>` for each of `commands` until the block ends, once every probe answers."""
    processes = [subprocess.Popen([*CLI, *command], env=stdio_env()) for command in commands]
    try:
        wait_until_answering(probes, processes, timeout=60)
        yield
    finally:
        for process in processes:
            stop_process(process)


async def minted(*options: str) -> str:
    """`supplychain idp token` for alice on inventory, with `options`: the token it prints."""
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [*CLI, "idp", "token", "--user", "alice@acme", "--server", "inventory", *options], env=stdio_env()
        )
    return done.stdout.decode().strip()


async def list_warehouses(url: str, token: str, *, wait_for_keys: bool = False) -> httpx2.Response:
    """A tools/call of list_warehouses. `wait_for_keys`: retry a 401 for up to 20 s while the server fetches
    the issuer's keys and revocation list at start (it refuses every token until it has both)."""
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, url, token, "list_warehouses")
        with anyio.move_on_after(20 if wait_for_keys else 0):
            while response.status_code == 401:
                await anyio.sleep(0.1)
                response = await call_tool(http, url, token, "list_warehouses")
        return response


@pytest.mark.slow
@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("workers", ["1", "2"])  # 2: each worker process reads the moved settings itself
async def test_server_idp_and_token_moved_by_one_base_port_work_together(workers: str) -> None:
    base = free_port_run()
    port = port_from("inventory", base)
    assert port != REGISTRY["inventory"].port  # really moved off the default stack
    issuer, url = f"http://127.0.0.1:{base}", f"http://127.0.0.1:{port}/mcp"
    metadata = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
    with running(
        ["idp", "serve", "--base-port", str(base)],
        ["serve", "inventory", "--transport", "http", "--base-port", str(base), "--workers", workers],
        probes=[f"{issuer}/.well-known/oauth-authorization-server", metadata],
    ):
        async with httpx2.AsyncClient(timeout=10) as http:
            # A client that starts at the server is sent to the IdP at the base, which names itself so.
            assert (await http.get(metadata)).json()["authorization_servers"] == [issuer]
            assert (await http.get(f"{issuer}/.well-known/oauth-authorization-server")).json()["issuer"] == issuer

        moved = await list_warehouses(url, await minted("--base-port", str(base)), wait_for_keys=True)
        assert moved.status_code == 200, moved.text
        codes = sorted(warehouse["code"] for warehouse in result_of(moved)["structuredContent"]["items"])
        assert codes == ["AMS-1", "RTM-2"]  # acme's, read through the moved server

        # A token minted for the default stack names another issuer and audience: refused, with the challenge.
        default = await list_warehouses(url, await minted())
        assert default.status_code == 401
        assert default.headers["www-authenticate"] == (
            'Bearer error="invalid_token", error_description="Authentication required", '
            f'scope="inventory:read", resource_metadata="{metadata}"'
        )


@pytest.mark.parametrize("command", [["serve", "inventory", "--transport", "http"], ["idp", "serve"]])
def test_port_and_base_port_together_are_refused_before_anything_starts(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--port", "9001", "--base-port", "9000"])
    assert result.exit_code == 2
    assert "give --port or --base-port, not both" in result.output


def test_base_port_over_stdio_is_refused() -> None:
    result = CliRunner().invoke(main, ["serve", "inventory", "--base-port", "9000"])
    assert result.exit_code == 2
    assert "--base-port places HTTP servers: add --transport http" in result.output
