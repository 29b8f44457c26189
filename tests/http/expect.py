"""The exact answers a resource server gives when it refuses a request, as the MCP spec words them."""

from __future__ import annotations

import httpx2

from deployment.registry import REGISTRY
from tests.http.rpc import challenge, error_of
from tests.http.stack import Server

UNAUTHORIZED_BODY = {"error": "invalid_token", "error_description": "Authentication required"}


def assert_unauthorized(response: httpx2.Response, server: Server) -> None:
    """401, `Bearer error="invalid_token"` naming the server's metadata document, and the JSON error.

    The challenge offers the server's reading scope only; writing scopes are asked for by step-up (403)."""
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="Authentication required", '
        f'scope="{REGISTRY[server.name].read_scope}", resource_metadata="{server.metadata_url}"'
    )
    assert challenge(response)["resource_metadata"] == server.metadata_url
    assert response.json() == UNAUTHORIZED_BODY


def assert_step_up(response: httpx2.Response, server: Server, *, needed: str, scope: str) -> None:
    """403 `insufficient_scope`: the exact challenge, whose `scope` is what the token holds on `server` plus
    `needed` (MCP 2025-11-25), so a client that re-authorizes with exactly that list keeps what it had."""
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{server.metadata_url}", '
        f'error_description="this call requires scope {needed}"'
    )
    assert response.json() == {"error": "insufficient_scope", "scope": scope}


def assert_scope_refused(response: httpx2.Response, tool: str, needed: str) -> None:
    """No step-up (the roles do not allow `needed`): the tool gate's JSON-RPC scope error, no challenge."""
    assert response.status_code == 200, (response.status_code, response.text)
    assert "www-authenticate" not in response.headers
    assert error_of(response) == {
        "code": -32003,
        "message": f"insufficient_scope: {tool} requires scope {needed!r}",
    }
