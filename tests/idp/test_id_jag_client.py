"""An agent reaches inventory with its user's enterprise identity: the SDK's IdentityAssertionOAuthProvider, end to end.

The real `mcp` Client, with `mcp.client.auth.extensions.identity_assertion.IdentityAssertionOAuthProvider`
as its HTTP auth, calls a real inventory server; on the 401 it exchanges an ID-JAG at the real dev IdP
(leg 2). The ID-JAG comes from leg 1 at acme's stand-in enterprise IdP (`demo.enterprise_idp`: test
code, since authlib has no RFC 8693 server), for the user's ID token. No consent page is ever asked for.
"""

from __future__ import annotations

import json
import re

import httpx2
import mcp
import pytest
from mcp.client.auth import OAuthTokenError
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from demo.enterprise_idp import request_id_jag
from idp.clients import Client
from tests.idp.enterprise import EnterpriseStack, issued_to


class MemoryStorage:
    """The provider's token storage, in memory (the SDK asks for one; nothing is kept between runs)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def list_warehouses_as(
    enterprise: EnterpriseStack, agent: tuple[Client, str], *, idp: str, user: str, asked: list[tuple[str, str]]
) -> list[str]:
    """`user` signs in at `idp`; their agent lists inventory's warehouses through the SDK's provider."""
    client, secret = agent
    enterprise_idp = enterprise.idps[idp]
    id_token = enterprise_idp.id_token(user)
    async with httpx2.AsyncClient(timeout=10) as leg1:

        async def assertion_provider(audience: str, resource: str) -> str:
            asked.append((audience, resource))
            return await request_id_jag(
                leg1, idp=enterprise_idp, id_token=id_token, audience=audience, resource=resource,
                client_id=client.client_id, scope="inventory:read",
            )  # fmt: skip

        provider = IdentityAssertionOAuthProvider(
            server_url=enterprise.inventory.url,
            storage=MemoryStorage(),
            client_id=client.client_id,
            client_secret=secret,
            issuer=enterprise.issuer,
            assertion_provider=assertion_provider,
        )
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            mcp.Client(streamable_http_client(enterprise.inventory.url, http_client=http)) as session,
        ):
            result = await session.call_tool("list_warehouses", {})
    assert not result.is_error, result
    assert result.structured_content is not None
    return [item["code"] for item in result.structured_content["items"]]


@pytest.mark.usefixtures("seeded")
async def test_an_agent_reaches_inventory_with_an_id_jag_and_no_consent_screen(
    enterprise: EnterpriseStack, agent: tuple[Client, str]
) -> None:
    client, _ = agent
    authorize_pages, token_requests = enterprise.idp.requests["/authorize"], enterprise.idp.requests["/token"]
    asked: list[tuple[str, str]] = []
    assert await list_warehouses_as(enterprise, agent, idp="acme", user="alice", asked=asked) == ["AMS-1", "RTM-2"]
    assert asked == [(enterprise.issuer, enterprise.inventory.url)]  # the ID-JAG's aud and resource
    assert enterprise.idp.requests["/token"] == token_requests + 1
    assert enterprise.idp.requests["/authorize"] == authorize_pages  # no consent screen, no login page
    assert issued_to(client.client_id) == ["alice@acme"]


async def test_the_sdk_client_gets_no_token_for_a_person_of_another_tenant(
    enterprise: EnterpriseStack, agent: tuple[Client, str]
) -> None:
    """globex's IdP vouches for "alice": the dev IdP looks for alice@globex, who does not exist."""
    client, _ = agent
    with pytest.raises(ExceptionGroup) as refused:  # raised inside the client's task group
        await list_warehouses_as(enterprise, agent, idp="globex", user="alice", asked=[])
    body = {"error": "invalid_grant", "error_description": "Invalid 'sub' value in assertion"}
    assert refused.group_contains(OAuthTokenError, match=re.escape(f"failed (400): {json.dumps(body)}") + "$")
    assert issued_to(client.client_id) == []
