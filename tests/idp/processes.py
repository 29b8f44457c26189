"""A dev IdP as a real process (`supplychain idp serve`), for tests that stop and start it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx2
from starlette.applications import Starlette

from idp.settings import IdpSettings
from supplychain.processes import stop_process, wait_until_answering
from tests.idp.flows import Idp


@contextmanager
def idp_process(home: Path, port: int) -> Iterator[None]:
    """`supplychain idp serve` in `home` on `port`, until the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPLYCHAIN_IDP_")}
    env["SUPPLYCHAIN_HOME"] = str(home)
    command = [str(Path(sys.executable).parent / "supplychain"), "idp", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        issuer = f"http://127.0.0.1:{port}"
        wait_until_answering([f"{issuer}/.well-known/oauth-authorization-server"], [process], timeout=30)
        yield
    finally:
        stop_process(process)


@asynccontextmanager
async def client_of(port: int) -> AsyncIterator[Idp]:
    """The HTTP view of a dev IdP process (its state lives in the other process)."""
    settings = IdpSettings(port=port)
    async with httpx2.AsyncClient(base_url=settings.issuer, timeout=10) as http:
        yield Idp(settings=settings, http=http, app=Starlette())
