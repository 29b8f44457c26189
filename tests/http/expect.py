"""The exact answers a resource server gives when it refuses a request, as the MCP spec words them."""

from __future__ import annotations

import httpx2

from tests.http.rpc import challenge
from tests.http.stack import Server

# The 401 challenge offers the reading scope only; writing scopes are asked for by step-up (403).
READ_SCOPE = {
    "inventory": "inventory:read",
    "logistics": "logistics:read",
    "returns": "returns:read",
    "payments": "payments:read",
}
UNAUTHORIZED_BODY = {"error": "invalid_token", "error_description": "Authentication required"}


def assert_unauthorized(response: httpx2.Response, server: Server) -> None:
    """401, `Bearer error="invalid_token"` naming the server's metadata document, and the JSON error."""
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="Authentication required", '
        f'scope="{READ_SCOPE[server.name]}", resource_metadata="{server.metadata_url}"'
    )
    assert challenge(response)["resource_metadata"] == server.metadata_url
    assert response.json() == UNAUTHORIZED_BODY


def assert_step_up(response: httpx2.Response, server: Server, scope: str) -> None:
    """403 `insufficient_scope` naming exactly the scope the call needs (the step-up challenge)."""
    assert response.status_code == 403, (response.status_code, response.text)
    assert challenge(response) == {
        "error": "insufficient_scope",
        "scope": scope,
        "resource_metadata": server.metadata_url,
        "error_description": f"this call requires scope {scope}",
    }
    assert response.json() == {"error": "insufficient_scope", "scope": scope}
