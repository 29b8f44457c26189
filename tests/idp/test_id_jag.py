"""Enterprise-managed authorization (SEP-990, leg 2): the dev IdP exchanges an enterprise ID-JAG for a token.

acme's and globex's enterprise IdPs are stand-ins (a test key pair each, JWKS over loopback: see
`tests.idp.enterprise`); the dev IdP, its token endpoint, its issued-token store and the inventory
server that accepts the token are real. Each refusal asserts the exact OAuth error and that the dev IdP
recorded no token for the client.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest
from joserfc.jwk import RSAKey

from demo.enterprise_idp import StandInIdp
from idp.clients import Client, add_agent_client
from idp.revocations import RevocationStore
from tests.http.rpc import call_tool, result_of
from tests.http.tokens import claims_of
from tests.idp.enterprise import EnterpriseStack, issued_to
from tests.idp.flows import REDIRECT_URI

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"


def id_jag(stack: EnterpriseStack, agent: Client, *, by: str = "acme", subject: str = "alice", **kwargs: Any) -> str:
    """An ID-JAG from the `by` stand-in for `agent`, for inventory on the dev IdP, unless `kwargs` say otherwise."""
    defaults = {"audience": stack.issuer, "resource": stack.inventory.url, "scope": "inventory:read"}
    return stack.idps[by].id_jag(subject=subject, client_id=agent.client_id, **{**defaults, **kwargs})


async def exchange(
    stack: EnterpriseStack, assertion: str, auth: tuple[str, str] | None, **data: str
) -> httpx2.Response:
    """The jwt-bearer token request, as the SDK's IdentityAssertionOAuthProvider sends it."""
    form = {"grant_type": JWT_BEARER, "assertion": assertion, "resource": data.pop("resource", "")} | data
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.post(f"{stack.issuer}/token", data={k: v for k, v in form.items() if v}, auth=auth)


def assert_refused(response: httpx2.Response, status: int, error: str, description: str | None) -> None:
    """The exact error response (`description` None: authlib gives none, as for a bad signature)."""
    body = {"error": error} if description is None else {"error": error, "error_description": description}
    assert (response.status_code, response.json()) == (status, body)


async def test_metadata_advertises_the_grant_and_the_id_jag_profile(enterprise: EnterpriseStack) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        metadata = (await http.get(f"{enterprise.issuer}/.well-known/oauth-authorization-server")).json()
    assert metadata["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        JWT_BEARER,
    ]
    assert metadata["authorization_grant_profiles_supported"] == [PROFILE]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("by", "subject", "warehouses"), [("acme", "alice", ["AMS-1", "RTM-2"]),
                                                            ("globex", "bob", ["CHI-1", "DAL-1"])])  # fmt: skip
async def test_an_id_jag_gets_a_token_that_inventory_accepts_in_the_issuers_tenant(
    enterprise: EnterpriseStack, agent: tuple[Client, str], by: str, subject: str, warehouses: list[str]
) -> None:
    client, secret = agent
    response = await exchange(
        enterprise, id_jag(enterprise, client, by=by, subject=subject), (client.client_id, secret)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh token (SEP-990)
    claims = claims_of(body["access_token"])
    assert (claims["sub"], claims["tenant_id"], claims["aud"], claims["client_id"], claims["scope"]) == (
        f"{subject}@{by}",
        by,
        enterprise.inventory.url,
        client.client_id,
        "inventory:read",
    )
    assert issued_to(client.client_id) == [f"{subject}@{by}"]
    async with httpx2.AsyncClient(timeout=10) as http:
        result = result_of(await call_tool(http, enterprise.inventory.url, body["access_token"], "list_warehouses"))
    assert result["isError"] is False, result
    assert [item["code"] for item in result["structuredContent"]["items"]] == warehouses


async def test_scopes_come_from_the_id_jag_and_the_roles_never_from_the_request(
    enterprise: EnterpriseStack, agent: tuple[Client, str]
) -> None:
    client, secret = agent
    auth = (client.client_id, secret)
    # ana is an analyst: the IdP's inventory:reorder is dropped by her roles, payments:read by the audience.
    wide = id_jag(enterprise, client, subject="ana", scope="inventory:read inventory:reorder payments:read")
    assert (await exchange(enterprise, wide, auth)).json()["scope"] == "inventory:read"
    # alice may reorder, but the IdP granted inventory:read only: asking for more is refused.
    narrow = id_jag(enterprise, client, scope="inventory:read")
    assert_refused(
        await exchange(enterprise, narrow, auth, scope="inventory:read inventory:reorder"),
        400, "invalid_scope", "The requested scope exceeds the 'scope' claim in assertion",
    )  # fmt: skip
    assert issued_to(client.client_id) == ["ana@acme"]


@pytest.mark.parametrize(
    ("scope", "asked"),
    [(None, "inventory:read inventory:reorder"), (None, ""), ("", ""), (" ", "")],
    ids=["no scope claim, the request asks", "no scope claim", "empty", "blank"],
)
async def test_an_id_jag_that_grants_no_scope_is_refused_whatever_the_request_asks(
    enterprise: EnterpriseStack, agent: tuple[Client, str], scope: str | None, asked: str
) -> None:
    # authlib alone would take the request's scope (no claim) or grant every scope the roles allow (empty).
    client, secret = agent
    assertion = id_jag(enterprise, client, jti=f"jti-{client.client_id}-{scope!r}-{asked!r}", scope=scope)
    refused = await exchange(enterprise, assertion, (client.client_id, secret), scope=asked)
    assert_refused(refused, 400, "invalid_scope", "The assertion grants no 'scope': the token's scopes come from it.")
    assert issued_to(client.client_id) == []


async def test_a_used_id_jag_is_refused_and_recorded_on_disk(
    enterprise: EnterpriseStack, agent: tuple[Client, str]
) -> None:
    client, secret = agent
    assertion = id_jag(enterprise, client, jti="jti-" + client.client_id)
    assert (await exchange(enterprise, assertion, (client.client_id, secret))).status_code == 200
    replayed = await exchange(enterprise, assertion, (client.client_id, secret))
    assert_refused(replayed, 400, "invalid_grant", "JWT has already been used (jti replay)")
    assert issued_to(client.client_id) == ["alice@acme"]
    store = RevocationStore()  # another process's view of the same file: a restart would refuse it too
    try:
        assert store.use_assertion(enterprise.idps["acme"].issuer, "jti-" + client.client_id, until=2**40) is False
    finally:
        store.close()


def _refusals() -> list[Any]:
    """(name, how the ID-JAG is made, status, error, description) of each refused exchange."""
    tenant = "The assertion claims another tenant: '{globex}' speaks for 'globex' only."
    return [
        pytest.param(
            dict(by="globex", subject="alice@acme"), 400, "invalid_grant",
            "The 'sub' must name a person of 'globex' without a tenant: '{globex}' speaks for 'globex' only.",
            id="globex-naming-alice@acme",
        ),
        pytest.param(dict(by="globex", subject="bob", tenant_id="acme"), 400, "invalid_grant", tenant,
                     id="globex-claiming-tenant_id-acme"),
        pytest.param(dict(by="globex", subject="bob", tenant="acme"), 400, "invalid_grant", tenant,
                     id="globex-claiming-tenant-acme"),
        pytest.param(dict(by="globex", subject="alice"), 400, "invalid_grant", "Invalid 'sub' value in assertion",
                     id="globex-naming-alice"),
        pytest.param(dict(resource="http://127.0.0.1:9/mcp"), 400, "invalid_target",
                     "Unknown 'resource': not one of this issuer's servers.", id="another-resource"),
        pytest.param(dict(resource=None), 400, "invalid_target",
                     "The assertion names no 'resource': the one server the token is for.", id="no-resource"),
        pytest.param(dict(issued_at=int(time.time()) - 600), 400, "invalid_grant", "The token is expired",
                     id="expired"),
        pytest.param(dict(by="initech"), 400, "invalid_grant",
                     "Unknown issuer: not one of this server's enterprise IdPs.", id="unlisted-issuer"),
        pytest.param(dict(audience="http://127.0.0.1:9"), 400, "invalid_grant", "Invalid claim: 'aud'",
                     id="wrong-aud"),
    ]  # fmt: skip


@pytest.mark.parametrize(("made", "status", "error", "description"), _refusals())
async def test_a_bad_id_jag_is_refused_and_nothing_is_issued(
    enterprise: EnterpriseStack,
    agent: tuple[Client, str],
    made: dict[str, Any],
    status: int,
    error: str,
    description: str,
) -> None:
    client, secret = agent
    response = await exchange(enterprise, id_jag(enterprise, client, **made), (client.client_id, secret))
    assert_refused(response, status, error, description.format(globex=enterprise.idps["globex"].issuer))
    assert issued_to(client.client_id) == []


async def test_the_request_cannot_name_another_resource_than_the_id_jag(
    enterprise: EnterpriseStack, agent: tuple[Client, str]
) -> None:
    client, secret = agent
    payments = enterprise.idp.settings.resources["payments"]
    response = await exchange(enterprise, id_jag(enterprise, client), (client.client_id, secret), resource=payments)
    assert_refused(response, 400, "invalid_target", "The request's 'resource' is not the one the assertion names.")
    assert issued_to(client.client_id) == []


async def test_globex_key_signing_as_acmes_issuer_is_refused(
    enterprise: EnterpriseStack, agent: tuple[Client, str]
) -> None:
    """globex's IdP signs an ID-JAG naming acme's issuer and acme's key id: acme's keys do not verify it."""
    client, secret = agent
    globex_key = enterprise.idps["globex"].key.as_dict(private=True)
    impostor = StandInIdp(issuer=enterprise.idps["acme"].issuer, key=RSAKey.import_key({**globex_key, "kid": "acme-1"}))
    forged = impostor.id_jag(
        audience=enterprise.issuer, subject="alice", client_id=client.client_id, resource=enterprise.inventory.url
    )
    assert_refused(await exchange(enterprise, forged, (client.client_id, secret)), 400, "invalid_grant", None)
    assert issued_to(client.client_id) == []


async def test_a_plain_jwt_is_not_an_id_jag(enterprise: EnterpriseStack, agent: tuple[Client, str]) -> None:
    client, secret = agent
    now = int(time.time())
    claims = {"iss": enterprise.idps["acme"].issuer, "sub": "alice", "aud": enterprise.issuer, "iat": now,
              "exp": now + 300, "jti": "plain", "client_id": client.client_id,
              "resource": enterprise.inventory.url}  # fmt: skip
    response = await exchange(enterprise, enterprise.idps["acme"].plain_jwt(**claims), (client.client_id, secret))
    assert_refused(response, 400, "invalid_grant", "Invalid 'typ' header: expected 'oauth-id-jag+jwt', got 'JWT'")
    assert issued_to(client.client_id) == []


async def test_another_clients_id_jag_is_refused(enterprise: EnterpriseStack, agent: tuple[Client, str]) -> None:
    client, secret = agent
    other, _ = add_agent_client(name="Another agent")
    response = await exchange(enterprise, id_jag(enterprise, other), (client.client_id, secret))
    assert_refused(response, 400, "invalid_grant", "Authenticated client does not match 'client_id' claim")
    assert issued_to(client.client_id) == issued_to(other.client_id) == []


async def test_a_public_client_cannot_present_an_id_jag(enterprise: EnterpriseStack) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        registered = await http.post(
            f"{enterprise.issuer}/register",
            json={"client_name": "Public agent", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
        )
    public_id = registered.json()["client_id"]
    public = Client(client_id=public_id, client_name="", token_endpoint_auth_method="none", grant_types=())
    response = await exchange(enterprise, id_jag(enterprise, public), None, client_id=public_id)
    methods = "['client_secret_basic', 'client_secret_post']"
    assert_refused(response, 401, "invalid_client", f"The client cannot authenticate with methods: {methods}")
    assert issued_to(public_id) == []
