"""`supplychain demo --enterprise`: enterprise-managed authorization (SEP-990), with no consent screen.

acme's and globex's people sign in at their own company IdP (stand-ins, `demo.enterprise_idp`: demo
code, as a real Okta or Entra ID cannot run here). The dev authorization server trusts each IdP for its
own tenant only (`SUPPLYCHAIN_IDP_ENTERPRISE_IDPS`). An agent, a confidential client registered once,
reaches inventory for alice@acme and for bob@globex through the MCP SDK's
`IdentityAssertionOAuthProvider`: leg 1 at the user's IdP (ID token for an ID-JAG), leg 2 at the dev
authorization server (ID-JAG for an access token), with no login page and no consent page in between.
Last, globex's IdP vouching for alice is refused.
"""

from __future__ import annotations

import json
import logging
import socket

import anyio
import httpx2
import uvicorn
from mcp import Client
from mcp.client.auth import OAuthTokenError
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client

from demo.agent import DemoFailed, MemoryTokenStorage, say, step
from demo.enterprise_idp import StandInIdp, enterprise_idps_app, request_id_jag
from demo.stack import running_stack
from idp.clients import add_agent_client

TENANTS = ("acme", "globex")


async def run_enterprise(*, base_port: int) -> None:
    """Start the stand-in IdPs and the stack, then let the agent in as alice@acme and bob@globex."""
    logging.getLogger("mcp.client.auth").setLevel(logging.CRITICAL)  # the refusal is shown, not logged
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    idps = {tenant: StandInIdp.generate(f"{base}/{tenant}", f"{tenant}-demo") for tenant in TENANTS}
    trusted = [
        {"issuer": idp.issuer, "tenant": tenant, "jwks_url": f"{idp.issuer}/jwks.json"} for tenant, idp in idps.items()
    ]
    server = uvicorn.Server(
        uvicorn.Config(enterprise_idps_app(idps), log_level="warning", log_config=None, lifespan="off")
    )
    agent, secret = add_agent_client(name="supplychain enterprise agent")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        env = {"SUPPLYCHAIN_IDP_ENTERPRISE_IDPS": json.dumps(trusted)}
        try:
            with running_stack(base_port, extra_env=env) as stack:
                url = stack.server_urls["inventory"]
                say(
                    f"Authorization server {stack.issuer}; enterprise IdPs {', '.join(i.issuer for i in idps.values())}"
                )
                say(f"Agent client {agent.client_id} (confidential, jwt-bearer grant only)")

                async def list_warehouses(tenant: str, user: str) -> list[str]:
                    idp = idps[tenant]
                    id_token = idp.id_token(user)  # the user signed in at their company IdP
                    async with httpx2.AsyncClient(timeout=10) as leg1:

                        async def assertion(audience: str, resource: str) -> str:
                            say(f"     leg 1 at {idp.issuer}: ID token of {user!r} → ID-JAG for {resource}", fg="blue")
                            return await request_id_jag(
                                leg1, idp=idp, id_token=id_token, audience=audience, resource=resource,
                                client_id=agent.client_id, scope="inventory:read",
                            )  # fmt: skip

                        provider = IdentityAssertionOAuthProvider(
                            server_url=url, storage=MemoryTokenStorage(), client_id=agent.client_id,
                            client_secret=secret, issuer=stack.issuer, assertion_provider=assertion,
                        )  # fmt: skip
                        async with (
                            httpx2.AsyncClient(auth=provider, timeout=30) as http,
                            Client(streamable_http_client(url, http_client=http)) as client,
                        ):
                            result = await client.call_tool("list_warehouses", {})
                    if result.is_error or result.structured_content is None:
                        raise DemoFailed(f"list_warehouses failed for {user} at {tenant}'s IdP")
                    return [f"{w['code']} ({w['city']})" for w in result.structured_content["items"]]

                for number, (tenant, user) in enumerate((("acme", "alice"), ("globex", "bob")), start=1):
                    step(number, f"{user} signs in at {tenant}'s IdP; the agent lists inventory's warehouses")
                    say(f"     {user}@{tenant} sees: " + ", ".join(await list_warehouses(tenant, user)), fg="green")
                step(3, "globex's IdP vouches for 'alice': the dev authorization server looks for alice@globex")
                try:
                    await list_warehouses("globex", "alice")
                except* OAuthTokenError as refused:
                    say(f"     refused, as it must be: {refused.exceptions[0]}", fg="green")
                else:
                    raise DemoFailed("globex's IdP reached a person it does not speak for")
                say("No login page, no consent page: the company IdPs decided, per tenant.", bold=True)
        finally:
            server.should_exit = True
    sock.close()
