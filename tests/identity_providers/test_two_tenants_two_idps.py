"""Two tenants, two IdPs, one set of servers: acme's people at the dev IdP, globex's at oidc-provider.

Inventory and logistics trust two issuers through one issuers file, each bound to one tenant: the dev IdP
(this template's authorization server, `tests.http.stack`) for acme, and oidc-provider (npm, certified,
written by nobody on this project) for globex. globex's approval pages' client is given in the file
(`[issuer.approvals]`); the dev IdP's is registered there on first sign-in. An approval's URL names its
tenant (`?tenant=`), and the pages send a person to sign in at that tenant's IdP (home-realm discovery);
the tenant of the session is still the one the signing IdP decides, so a wrong or forged hint leads nowhere.

- alice's token (dev IdP) and bob's (oidc-provider) each act in their own tenant on the same server;
- every cross-issuer attempt is refused with the exact 401 and nothing written: dev IdP tokens naming
  globex, and mallory's oidc-provider token naming acme;
- in Chromium, alice is sent to the dev IdP and bob to oidc-provider, and each decides their own reroute;
- signed in at one tenant's IdP (an approver, who may see every approval of their own tenant), the other
  tenant's approval (its own URL, or the hint forged) is the not-found page of an unknown id, and a
  decision posted for it changes nothing;
- bob@globex signing in at acme's IdP (the dev IdP knows him) gets no session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from mcp_types import ElicitResult
from playwright.async_api import Browser, Page
from securemcp.ids import fixture_id

from tests.helpers import Human, admin_rows, pending_approval_id, snapshot
from tests.http.clients import mcp_client
from tests.http.expect import assert_unauthorized
from tests.http.rpc import call_tool
from tests.http.stack import Idp, Server, probe_until_accepted, start_idp, start_server
from tests.http.tokens import claims_of, mint, sign
from tests.identity_providers.conftest import GLOBEX_SERVERS, GlobexIdp, globex_idp_on_new_sockets
from tests.identity_providers.flows import access_token
from tests.identity_providers.provider import APPROVALS_CLIENT_ID, GLOBEX_PEOPLE
from tests.logistics.builders import IN_TRANSIT
from tests.pages.browser import chromium, decide, new_page, sign_in_at_idp, sign_in_at_oidc_provider

pytestmark = pytest.mark.slow

NOT_FOUND = "There is no approval with this id that you can see."
UNKNOWN_ID = "ap_" + "0" * 20


@dataclass(frozen=True)
class TenantPerson:
    """A person of one tenant, the reroute they ask for, and how they sign in at their tenant's IdP."""

    name: str  # alice (acme, the dev IdP) or bob (globex, oidc-provider)
    user_id: str  # as their IdP names them: alice@acme, bob's UUID
    tenant: str
    shipment: str
    destination: str

    @property
    def reroute(self) -> dict[str, str]:
        return {"shipment_id": self.shipment, "destination_warehouse": self.destination, "reason": "warehouse_capacity"}


ALICE = TenantPerson("alice", "alice@acme", "acme", IN_TRANSIT, "RTM-2")
BOB = TenantPerson("bob", GLOBEX_PEOPLE["bob"].subject, "globex", fixture_id("sh", "globex/SKY-900203"), "DAL-1")
# Approvers (`<server>:decide`): each may see every pending approval of their own tenant on the pages, so
# only the session's tenant keeps the other tenant's approval from them.
PRIYA = TenantPerson("priya", "priya@acme", "acme", "", "")
OLGA = TenantPerson("olga", GLOBEX_PEOPLE["olga"].subject, "globex", "", "")


@dataclass
class TwoIdps:
    """The dev IdP (acme's), oidc-provider (globex's), and inventory and logistics trusting both."""

    acme: Idp
    globex: GlobexIdp
    servers: dict[str, Server]

    def idp_of(self, person: TenantPerson) -> str:
        return self.acme.issuer if person.tenant == "acme" else self.globex.issuer

    async def token(self, person: TenantPerson, server: str, scope: str) -> str:
        """`person`'s access token for `server`, from their own tenant's IdP."""
        if person.tenant == "acme":  # the dev IdP: its people are fixture users
            return mint(self.acme, user=person.user_id, server=server, scopes=scope.split())
        return await access_token(
            self.globex.provider, GLOBEX_PEOPLE[person.name], resource=self.globex.resource(server), scope=scope
        )

    async def sign_in(self, page: Page, person: TenantPerson) -> None:
        """At the login page the approval pages sent the browser to."""
        if person.tenant == "acme":
            await sign_in_at_idp(page, person.user_id)
        else:
            await sign_in_at_oidc_provider(page, person.user_id)


def trusted_issuers_toml(acme: Idp, globex: GlobexIdp) -> str:
    """Each tenant's IdP, bound to it alone; globex's pages client named in the file, its secret beside it."""
    return "\n".join([
        "# acme signs in at the dev IdP: ISSUER_URL, whose pages client registers itself there.",
        "[[issuer]]",
        f'issuer = "{acme.issuer}"',
        'tenant = "acme"',
        "",
        "# globex's own IdP: its tokens act in globex and nowhere else, whatever claims they carry.",
        "[[issuer]]",
        f'issuer = "{globex.issuer}"',
        'tenant = "globex"',
        f'jwks_url = "{globex.issuer}/jwks"',
        'revocation = "none"',
        "[issuer.approvals]",
        f'client_id = "{APPROVALS_CLIENT_ID}"',
        'client_secret_file = "globex-approval-pages-secret"',
        "",
    ])  # fmt: skip


@pytest.fixture(scope="module")
def two(
    oidc_provider_installed: None, server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoIdps]:
    folder = tmp_path_factory.mktemp("two-idps")
    with globex_idp_on_new_sockets(folder / "globex-idp") as globex:
        acme = start_idp(folder / "dev-idp-keys", {name: globex.resource(name) for name in GLOBEX_SERVERS})
        secret = folder / "globex-approval-pages-secret"
        secret.write_text(globex.provider.approvals_client_secret, encoding="utf-8")
        secret.chmod(0o600)
        issuers = folder / "trusted-issuers.toml"
        issuers.write_text(trusted_issuers_toml(acme, globex), encoding="utf-8")
        servers: dict[str, Server] = {}
        try:
            for name in GLOBEX_SERVERS:
                servers[name] = start_server(name, acme.issuer, sock=globex.sockets[name], trusted_issuers_file=issuers)
                probe_until_accepted(servers[name], mint(acme, user="alice@acme", server=name))
            yield TwoIdps(acme=acme, globex=globex, servers=servers)
        finally:
            for server in servers.values():
                if server.served.thread.is_alive():
                    server.served.stop()
            acme.served.stop()


async def test_alices_dev_idp_token_and_bobs_oidc_provider_token_each_act_in_their_own_tenant(
    two: TwoIdps, seeded: None, admin_url: str
) -> None:
    """On the same inventory server: each sees only their tenant's warehouses, and each reorder lands there."""
    inventory = two.servers["inventory"]
    seen: dict[str, list[str]] = {}
    for person, quantity in ((ALICE, 11), (BOB, 12)):
        token = await two.token(person, "inventory", "inventory:read inventory:reorder")
        warehouse = "AMS-1" if person is ALICE else "CHI-1"
        async with mcp_client(inventory.url, token, human=Human()) as client:
            listed = await client.call_tool("list_warehouses", {})
            ordered = await client.call_tool(
                "create_reorder", {"sku": "TAPE-48", "warehouse": warehouse, "quantity": quantity}
            )
        assert listed.structured_content is not None and ordered.is_error is False, ordered.content
        seen[person.name] = [item["code"] for item in listed.structured_content["items"]]
    assert seen == {"alice": ["AMS-1", "RTM-2"], "bob": ["CHI-1", "DAL-1"]}
    rows = await admin_rows(
        admin_url,
        "SELECT quantity, tenant_id, warehouse_code FROM inventory.reorders WHERE quantity IN (11, 12) ORDER BY 1",
    )
    assert rows == [(11, "acme", "AMS-1"), (12, "globex", "CHI-1")]


async def dev_idp_token_of_bob(two: TwoIdps) -> str:
    """A real dev IdP token for bob@globex: its `tenant_id` is globex, but the dev IdP speaks for acme only."""
    return mint(two.acme, user="bob@globex", server="inventory")


async def dev_idp_token_of_alice_saying_globex(two: TwoIdps) -> str:
    """alice's dev IdP token with `tenant_id` changed to globex and signed again with the dev IdP's own key."""
    return sign(two.acme, claims_of(mint(two.acme, user="alice@acme", server="inventory")) | {"tenant_id": "globex"})


async def oidc_provider_token_of_mallory(two: TwoIdps) -> str:
    """mallory's oidc-provider token: her directory entry adds `tenant_id` acme (globex's IdP naming acme)."""
    provider, resource = two.globex.provider, two.globex.resource("inventory")
    return await access_token(provider, GLOBEX_PEOPLE["mallory"], resource=resource, scope="inventory:read")


CROSS_ISSUER = {
    "dev IdP, bob@globex": dev_idp_token_of_bob,
    "dev IdP, alice re-signed as globex": dev_idp_token_of_alice_saying_globex,
    "oidc-provider, mallory naming acme": oidc_provider_token_of_mallory,
}


@pytest.mark.parametrize("tool", ["list_warehouses", "create_reorder"])
@pytest.mark.parametrize("attempt", list(CROSS_ISSUER))
async def test_every_cross_issuer_token_is_refused_with_401_and_writes_nothing(
    two: TwoIdps, seeded: None, admin_url: str, attempt: str, tool: str
) -> None:
    """A token naming a tenant its issuer does not speak for: the exact 401, and no table changed."""
    inventory = two.servers["inventory"]
    token = await CROSS_ISSUER[attempt](two)
    before = await snapshot(admin_url, "inventory")
    arguments: dict[str, Any] = {}
    if tool == "create_reorder":
        arguments = {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 13}
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await call_tool(http, inventory.url, token, tool, arguments)
    assert_unauthorized(response, inventory)
    assert await snapshot(admin_url, "inventory") == before


class PageSignIn:
    """The MCP client's URL handler: the page opens in Chromium, which must land on `person`'s own tenant's
    IdP; they sign in there and approve."""

    def __init__(self, browser: Browser, two: TwoIdps, person: TenantPerson) -> None:
        self.browser, self.two, self.person = browser, two, person
        self.urls: list[str] = []
        self.login_pages: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        if getattr(params, "mode", None) != "url":
            return ElicitResult(action="decline")
        self.urls.append(params.url)
        _, page, _ = await new_page(self.browser)
        await page.goto(params.url)
        self.login_pages.append(page.url)
        await self.two.sign_in(page, self.person)
        await page.wait_for_url(lambda current: "/approvals/ap_" in current)
        await decide(page, "approve")
        assert f"approved and executed by {self.person.user_id}." in await page.inner_text("main")
        return ElicitResult(action="accept")


@pytest.mark.chromium
async def test_alice_signs_in_at_the_dev_idp_and_bob_at_oidc_provider_each_deciding_their_own_reroute(
    two: TwoIdps, seeded: None, admin_url: str
) -> None:
    """The approval URL names the tenant; the page sends each to their tenant's IdP; each reroute runs once."""
    logistics = two.servers["logistics"]
    async with chromium() as browser:
        for person in (ALICE, BOB):
            token = await two.token(person, "logistics", "logistics:read logistics:reroute")
            handler = PageSignIn(browser, two, person)
            async with mcp_client(logistics.url, token, human=handler) as client:  # type: ignore[arg-type]
                result = await client.call_tool("reroute_shipment", person.reroute)
            assert result.is_error is False, result.content
            status = result.structured_content
            assert status is not None and (status["status"], status["level"]) == ("executed", "verified")
            assert handler.urls == [f"{logistics.origin}/approvals/{status['approval_id']}?tenant={person.tenant}"]
            assert [page.startswith(f"{two.idp_of(person)}/") for page in handler.login_pages] == [True]
    rows = await admin_rows(
        admin_url,
        "SELECT tenant_id, destination_code FROM logistics.shipments WHERE id IN (:a, :b) ORDER BY 1",
        a=ALICE.shipment, b=BOB.shipment,
    )  # fmt: skip
    assert rows == [("acme", "RTM-2"), ("globex", "DAL-1")]


async def pending_reroute(two: TwoIdps, person: TenantPerson) -> dict[str, Any]:
    """`person`'s `verified` reroute, left pending (a client without URL elicitation gets the page's URL)."""
    token = await two.token(person, "logistics", "logistics:read logistics:reroute")
    async with mcp_client(two.servers["logistics"].url, token) as client:
        result = await client.call_tool("reroute_shipment", person.reroute)
    pending_approval_id(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


@pytest.mark.chromium
@pytest.mark.parametrize(
    ("me", "other"),
    [(OLGA, ALICE), (PRIYA, BOB), (BOB, ALICE)],
    ids=["olga-at-globex", "priya-at-acme", "bob-at-globex"],
)
async def test_a_session_from_one_tenants_idp_never_reaches_the_other_tenants_approval(
    two: TwoIdps, seeded: None, admin_url: str, me: TenantPerson, other: TenantPerson
) -> None:
    """Signed in at my tenant's IdP, the other tenant's approval, opened by its own URL or with its tenant
    forged to mine, is the not-found page of an unknown id; a decision posted for it changes nothing."""
    logistics = two.servers["logistics"]
    theirs = await pending_reroute(two, other)
    assert theirs["url"] == f"{logistics.origin}/approvals/{theirs['approval_id']}?tenant={other.tenant}"
    before = await snapshot(admin_url, "logistics")
    async with chromium() as browser:
        _, page, _ = await new_page(browser)
        await page.goto(f"{logistics.origin}/approvals?tenant={me.tenant}")
        assert page.url.startswith(f"{two.idp_of(me)}/")  # home realm: sent to my own tenant's IdP
        await two.sign_in(page, me)
        await page.wait_for_url(f"{logistics.origin}/approvals")
        unknown = await page.goto(f"{logistics.origin}/approvals/{UNKNOWN_ID}?tenant={other.tenant}")
        assert unknown is not None and unknown.status == 404
        expected = await page.inner_text("main")
        assert NOT_FOUND in expected
        for hint in (other.tenant, me.tenant):  # the approval's own URL, then its tenant forged to mine
            answer = await page.goto(f"{logistics.origin}/approvals/{theirs['approval_id']}?tenant={hint}")
            assert answer is not None and answer.status == 404
            assert await page.inner_text("main") == expected
        csrf = await page.get_attribute("input[name=csrf_token]", "value")
        form = {"csrf_token": csrf or "", "decision": "approve", "arguments_sha256": theirs["arguments_sha256"]}
        posted = await page.request.post(f"{logistics.origin}/approvals/{theirs['approval_id']}", form=form)
        assert posted.status == 404 and NOT_FOUND in await posted.text()
    assert await snapshot(admin_url, "logistics") == before  # still pending, the shipment where it was


@pytest.mark.chromium
async def test_a_globex_person_signing_in_at_acmes_idp_gets_no_session(
    two: TwoIdps, seeded: None, admin_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The dev IdP knows bob@globex, but on these servers it speaks for acme only: its ID token naming globex
    is refused at the callback, no session is started, and acme's approval stays out of reach."""
    alices = await pending_reroute(two, ALICE)
    async with chromium() as browser:
        _, page, _ = await new_page(browser)
        await page.goto(alices["url"])
        assert page.url.startswith(f"{two.acme.issuer}/")  # acme's approval: acme's IdP
        async with page.expect_response(lambda answer: "/approvals/auth/callback" in answer.url) as callback:
            await sign_in_at_idp(page, "bob@globex")
        assert (await callback.value).status == 400
        assert "The sign-in could not be completed. Start again." in await page.inner_text("main")
    sessions = await admin_rows(admin_url, "SELECT count(*) FROM logistics.page_sessions WHERE user_id = 'bob@globex'")
    assert sessions == [(0,)]
    assert any(
        "sign-in refused: token claims tenant 'globex', its issuer speaks for 'acme'" in record.getMessage()
        for record in caplog.records
    )
    assert (await admin_rows(admin_url, "SELECT status FROM logistics.pending_approvals WHERE id = :i",
                             i=alices["approval_id"])) == [("pending",)]  # fmt: skip
