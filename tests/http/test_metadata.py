"""RFC 9728 Protected Resource Metadata at the path-inserted well-known URI, for each server."""

from __future__ import annotations

import httpx2
import pytest

from deployment.registry import REGISTRY, SERVERS
from tests.http.stack import Stack


def scopes_supported(name: str) -> list[str]:
    """What a client may ask this server's tokens for: the activity log's, reading, its capabilities (sorted).

    Never `<server>:decide`: that scope is for people on the approval page, not for tools.
    """
    server = REGISTRY[name]
    return sorted({"audit:read", server.read_scope, *server.capabilities})


@pytest.mark.parametrize("name", SERVERS)
async def test_metadata_document_names_the_resource_its_issuer_and_its_scopes(name: str, stack: Stack) -> None:
    server = stack[name]
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await http.get(f"{server.origin}/.well-known/oauth-protected-resource/mcp")
        # The same document is what every 401 points at.
        challenged = await http.post(server.url, json={})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "resource": server.url,
        "authorization_servers": [stack.idp.issuer],  # byte-equal to the tokens' `iss`: no trailing slash
        "scopes_supported": scopes_supported(name),
        "bearer_methods_supported": ["header"],
        "resource_name": f"supplychain {name}",
    }
    assert f'resource_metadata="{server.metadata_url}"' in challenged.headers["www-authenticate"]


async def test_metadata_is_public_and_the_issuer_it_names_answers(stack: Stack) -> None:
    inventory = stack["inventory"]
    async with httpx2.AsyncClient(timeout=10) as http:
        document = (await http.get(inventory.metadata_url)).json()
        issuer = document["authorization_servers"][0]
        metadata = (await http.get(f"{issuer}/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == issuer
    assert inventory.url in stack.idp.settings.resources.values()
