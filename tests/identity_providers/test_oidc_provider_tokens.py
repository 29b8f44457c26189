"""The servers against a real OpenID Provider: globex's IdP is oidc-provider, trusted for globex only.

Inventory and logistics are configured as a company deploying the template for globex would configure
them: one trusted issuer (a `[[issuer]]` table naming oidc-provider, bound to tenant `globex`), with the
IdP as it is (UUID subjects, `roles` and `groups` claims, no `tenant_id`, RSA keys without `alg`) and the
approval pages signing people in there with a confidential client. Nothing of the IdP was changed to
suit the servers.

- bob's token from it acts in globex, and sees globex's warehouses only;
- mallory's token, from the same IdP, says `tenant_id` acme (a misconfigured directory): refused with
  the exact 401, and nothing is written;
- bob's `verified` reroute completes after he signs in at oidc-provider in Chromium and approves.

oidc-provider publishes no revocation list (the dev IdP's extension), so its issuer says
`revocation = "none"`, as a company's would (docs/identity-providers.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp_types import ElicitResult
from playwright.async_api import Browser
from securemcp.ids import fixture_id

from tests.helpers import Human, admin_rows, snapshot
from tests.http.clients import mcp_client
from tests.http.expect import assert_unauthorized
from tests.http.rpc import call_tool
from tests.http.stack import Server, start_server
from tests.identity_providers.conftest import GLOBEX_SERVERS, GlobexIdp
from tests.identity_providers.flows import access_token
from tests.identity_providers.provider import APPROVALS_CLIENT_ID, GLOBEX_PEOPLE, MCP_CLIENT_ID, Person
from tests.pages.browser import chromium, decide, new_page, sign_in_at_oidc_provider

pytestmark = pytest.mark.slow

GLOBEX_IN_TRANSIT = fixture_id("sh", "globex/SKY-900203")  # headed to CHI-1
REORDER = {"sku": "TAPE-48", "warehouse": "CHI-1", "quantity": 7}


def trusted_issuers_toml(idp: GlobexIdp) -> str:
    """The servers' trusted issuers: globex's IdP alone, speaking for globex, its claims as it names them."""
    return "\n".join([
        "# globex's own IdP: its tokens act in globex and nowhere else, whatever claims they carry.",
        "[[issuer]]",
        f'issuer = "{idp.issuer}"',
        'tenants = ["globex"]',
        f'jwks_url = "{idp.issuer}/jwks"',
        'revocation = "none"  # oidc-provider publishes no revocation list: tokens end when they expire',
        "",
    ])  # fmt: skip


@pytest.fixture(scope="module")
def globex_servers(
    globex_idp: GlobexIdp, server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """Inventory and logistics on the sockets globex's IdP knows them by, trusting it for globex."""
    folder = tmp_path_factory.mktemp("globex-servers")
    issuers = folder / "trusted-issuers.toml"
    issuers.write_text(trusted_issuers_toml(globex_idp), encoding="utf-8")
    secret = folder / "approvals-client-secret"
    secret.write_text(globex_idp.provider.approvals_client_secret, encoding="utf-8")
    secret.chmod(0o600)
    servers: dict[str, Server] = {}
    try:
        for name in GLOBEX_SERVERS:
            servers[name] = start_server(
                name, globex_idp.issuer, sock=globex_idp.sockets[name],
                trusted_issuers_file=issuers,
                approvals_client_id=APPROVALS_CLIENT_ID, approvals_client_secret_file=secret,
            )  # fmt: skip
        yield servers
    finally:
        for server in servers.values():
            if server.served.thread.is_alive():
                server.served.stop()


async def token_for(idp: GlobexIdp, person: Person, server: str, scope: str) -> str:
    return await access_token(idp.provider, person, resource=idp.resource(server), scope=scope)


async def test_bobs_token_from_the_globex_idp_acts_in_globex(
    globex_idp: GlobexIdp, globex_servers: dict[str, Server], seeded: None
) -> None:
    """bob's oidc-provider token (UUID `sub`, key without `alg`, no `tenant_id`) is accepted by inventory,
    and what he sees is globex's: its two warehouses, none of acme's."""
    inventory = globex_servers["inventory"]
    token = await token_for(globex_idp, GLOBEX_PEOPLE["bob"], "inventory", "inventory:read")
    async with mcp_client(inventory.url, token) as client:
        result = await client.call_tool("list_warehouses", {})
    assert result.is_error is False, result.content
    assert result.structured_content is not None
    assert [item["code"] for item in result.structured_content["items"]] == ["CHI-1", "DAL-1"]


async def test_bobs_reorder_is_written_in_globex_with_his_person_id(
    globex_idp: GlobexIdp, globex_servers: dict[str, Server], seeded: None, admin_url: str
) -> None:
    """A side effect with bob's token lands in globex, by him (his UUID), and is audited in globex."""
    inventory = globex_servers["inventory"]
    bob = GLOBEX_PEOPLE["bob"]
    token = await token_for(globex_idp, bob, "inventory", "inventory:read inventory:reorder")
    async with mcp_client(inventory.url, token, human=Human()) as client:
        result = await client.call_tool("create_reorder", REORDER)
    assert result.is_error is False, result.content
    rows = await admin_rows(
        admin_url, "SELECT tenant_id, warehouse_code, requested_by FROM inventory.reorders WHERE quantity = 7"
    )
    assert len(rows) == 1 and rows[0][:2] == ("globex", "CHI-1")
    assert bob.subject in rows[0][2]  # however the person is spelled, it is his UUID from the IdP
    audited = await admin_rows(
        admin_url,
        "SELECT DISTINCT tenant_id, client_id FROM inventory.audit_log "
        "WHERE tool = 'create_reorder' AND user_id LIKE :p",
        p=f"%{bob.subject}%",
    )
    assert audited == [("globex", MCP_CLIENT_ID)]


@pytest.mark.parametrize("tool", ["list_warehouses", "create_reorder"])
async def test_a_globex_token_claiming_acme_is_refused_and_writes_nothing(
    globex_idp: GlobexIdp, globex_servers: dict[str, Server], seeded: None, admin_url: str, tool: str
) -> None:
    """mallory's token is globex's IdP's, yet says `tenant_id` acme: the tenant is the issuer's (globex),
    a claim naming another is refused with the exact 401, never followed, and no table changes."""
    inventory = globex_servers["inventory"]
    token = await token_for(globex_idp, GLOBEX_PEOPLE["mallory"], "inventory", "inventory:read inventory:reorder")
    before = await snapshot(admin_url, "inventory")
    arguments: dict[str, Any] = {**REORDER, "warehouse": "AMS-1"} if tool == "create_reorder" else {}
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, token, tool, arguments)
    assert_unauthorized(response, inventory)
    assert await snapshot(admin_url, "inventory") == before


async def test_a_globex_token_for_inventory_is_refused_by_logistics(
    globex_idp: GlobexIdp, globex_servers: dict[str, Server], seeded: None
) -> None:
    """The audience binding holds with the IdP's tokens too: inventory's is refused by logistics."""
    token = await token_for(globex_idp, GLOBEX_PEOPLE["bob"], "inventory", "inventory:read")
    logistics = globex_servers["logistics"]
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, logistics.url, token, "list_shipments")
    assert_unauthorized(response, logistics)


class BrowserPerson:
    """The MCP client's URL handler: the approval page opens in Chromium, `person` signs in at globex's
    IdP and approves."""

    def __init__(self, browser: Browser, person: Person) -> None:
        self.browser, self.person = browser, person
        self.urls: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        if getattr(params, "mode", None) != "url":
            return ElicitResult(action="decline")
        self.urls.append(params.url)
        _, page, _ = await new_page(self.browser)
        await page.goto(params.url)
        await sign_in_at_oidc_provider(page, self.person.subject)
        await page.wait_for_url(lambda current: "/approvals" in current and "/auth/" not in current)
        await decide(page, "approve")
        assert "approved and executed by" in await page.inner_text("main")
        return ElicitResult(action="accept")


@pytest.mark.chromium
async def test_bob_signs_in_at_oidc_provider_on_the_approval_page_and_his_reroute_runs(
    globex_idp: GlobexIdp, globex_servers: dict[str, Server], seeded: None, admin_url: str
) -> None:
    """A `verified` reroute by bob: the page sends Chromium to oidc-provider, bob signs in there, approves,
    and the call completes with the reroute done once, in globex."""
    logistics = globex_servers["logistics"]
    token = await token_for(globex_idp, GLOBEX_PEOPLE["bob"], "logistics", "logistics:read logistics:reroute")
    arguments = {"shipment_id": GLOBEX_IN_TRANSIT, "destination_warehouse": "DAL-1", "reason": "warehouse_capacity"}
    async with chromium() as browser:
        person = BrowserPerson(browser, GLOBEX_PEOPLE["bob"])
        async with mcp_client(logistics.url, token, human=person) as client:  # type: ignore[arg-type]
            result = await client.call_tool("reroute_shipment", arguments)
    assert result.is_error is False, result.content
    status = result.structured_content
    assert status is not None and (status["status"], status["level"]) == ("executed", "verified")
    assert person.urls == [f"{logistics.origin}/approvals/{status['approval_id']}?tenant=globex"]
    rows = await admin_rows(
        admin_url, "SELECT tenant_id, destination_code FROM logistics.shipments WHERE id = :i", i=GLOBEX_IN_TRANSIT
    )
    assert rows == [("globex", "DAL-1")]
