"""Start the phase 2 stack as separate processes: the dev authorization server and the four servers.

Each server runs in its own process (`supplychain serve <name> --transport http`) so that each holds
only its own database credential, exactly as in a deployment. Ports are `base` (authorization server)
and `base + 1..4` (inventory, logistics, returns, payments); the defaults are 8100..8104.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx2

from shared.policy import SERVERS
from shared.settings import home_dir


class StackFailed(RuntimeError):
    """A process of the stack did not come up."""


@dataclass(frozen=True)
class Stack:
    """Where the running stack answers."""

    issuer: str
    server_urls: dict[str, str]


def stack_environment(base_port: int) -> tuple[dict[str, str], Stack]:
    """The environment every process of the stack shares, and the URLs it will answer on."""
    issuer = f"http://127.0.0.1:{base_port}"
    urls = {server: f"http://127.0.0.1:{base_port + 1 + index}/mcp" for index, server in enumerate(SERVERS)}
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env |= {
        "SUPPLYCHAIN_HOME": str(home_dir()),
        "SUPPLYCHAIN_IDP_PORT": str(base_port),
        "SUPPLYCHAIN_IDP_RESOURCES": json.dumps(urls),
    }
    for index, server in enumerate(SERVERS):
        prefix = f"SUPPLYCHAIN_{server.upper()}_"
        env |= {f"{prefix}PORT": str(base_port + 1 + index), f"{prefix}ISSUER_URL": issuer}
    return env, Stack(issuer=issuer, server_urls=urls)


@contextmanager
def running_stack(base_port: int = 8100, *, timeout_seconds: float = 30.0) -> Iterator[Stack]:
    """Run the authorization server and the four servers until the block ends."""
    env, stack = stack_environment(base_port)
    command = [sys.executable, "-m", "shared.cli"]
    processes = [subprocess.Popen([*command, "idp", "serve"], env=env)]  # noqa: S603
    processes += [
        subprocess.Popen([*command, "serve", server, "--transport", "http"], env=env)  # noqa: S603
        for server in SERVERS
    ]
    try:
        probes = [f"{stack.issuer}/.well-known/oauth-authorization-server"] + [
            url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp") for url in stack.server_urls.values()
        ]
        _wait_until_answering(probes, processes, timeout_seconds)
        yield stack
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_answering(urls: list[str], processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    with httpx2.Client(timeout=2.0) as client:
        while pending:
            if any(process.poll() is not None for process in processes):
                raise StackFailed("a process of the stack exited at start-up (see its message above)")
            if time.monotonic() > deadline:
                raise StackFailed(f"not answering after {timeout:.0f} s: {', '.join(pending)}")
            try:
                if client.get(pending[0]).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
