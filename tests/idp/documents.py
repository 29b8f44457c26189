"""A real HTTPS server (the repo's dev certificate) that serves client metadata documents, good and hostile.

Every request is counted per path, so a test can tell whether the IdP fetched, re-fetched or never
connected. A slow document (any name starting with `slow`) is held until the test sets `release`,
or the server stops; then it is a good document.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.idp.flows import REDIRECT_URI

OVERSIZE = 6000  # above the IdP's default 5120-byte bound


@dataclass
class DocumentServer:
    """Where the documents are and how often each path was asked for."""

    port: int
    hits: Counter[str] = field(default_factory=Counter)
    release: anyio.Event = field(default_factory=anyio.Event)

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}/clients/{name}.json"


def document(client_id: str, **fields: Any) -> dict[str, Any]:
    """A valid public-client document for `client_id`, with `fields` changed."""
    return {
        "client_id": client_id,
        "client_name": "Inspector (CIMD)",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **fields,
    }


def _app(served: DocumentServer) -> Starlette:
    async def serve_document(request: Request) -> Response:
        name = request.path_params["name"]
        served.hits[name] += 1
        url = f"https://{request.headers['host']}/clients/{name}.json"
        if name.startswith("slow"):
            await served.release.wait()
        if name == "mismatch":
            return JSONResponse(document("https://127.0.0.1/clients/someone-else.json"))
        if name == "big":
            return JSONResponse(document(url, padding="x" * OVERSIZE))
        if name == "chunked":  # no Content-Length: only counting the bytes stops it

            async def chunks() -> AsyncIterator[bytes]:
                yield json.dumps(document(url))[:-1].encode() + b', "padding": "'
                for _ in range(OVERSIZE // 1000):
                    yield b"x" * 1000
                yield b'"}'

            return StreamingResponse(chunks(), media_type="application/json")
        if name == "redirect":
            return RedirectResponse(url.replace("redirect", "good"), status_code=302)
        if name == "secret":
            return JSONResponse(document(url, token_endpoint_auth_method="client_secret_basic"))
        return JSONResponse(document(url))

    return Starlette(routes=[Route("/clients/{name}.json", serve_document)])


@asynccontextmanager
async def document_server(certificate: Path, key: Path) -> AsyncIterator[DocumentServer]:
    """Serve documents over TLS on a free loopback port until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    served = DocumentServer(port=sock.getsockname()[1])
    config = uvicorn.Config(
        _app(served),
        log_level="warning",
        log_config=None,
        lifespan="off",
        ssl_certfile=str(certificate),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        with anyio.fail_after(5):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
                await anyio.sleep(0.01)
        yield served
        served.release.set()
        server.should_exit = True
    sock.close()
