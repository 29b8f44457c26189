"""Several trusted issuers, each bound to its tenants, with its claim mapping (`securemcp.identity.issuers`).

The session's dev IdP speaks for acme (and the readiness probe's tenant). The other issuers are stand-ins
for third-party IdPs (Entra ID, Keycloak): a JWKS, and for one an OpenID discovery document, served over
real loopback HTTP with key pairs these tests generate. They are stand-ins, not the IdPs: what is tested
is the server reading tokens shaped as those IdPs shape them, configured through the issuers file alone.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers import admin_rows, snapshot
from tests.http.conftest import ExtraServer
from tests.http.expect import assert_scope_refused, assert_unauthorized
from tests.http.rpc import call_tool, result_of
from tests.http.stack import Served, Server, Stack, loopback_socket, serve
from tests.http.tokens import claims_of, mint

ENTRA_TID_GLOBEX = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ENTRA_TID_INITECH = "0b3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
MANAGERS_GROUP = "5b7c2e1a-0f3d-4b6e-8a9c-1d2e3f4a5b6c"  # an Entra group object id, mapped to a role


class StandInIdp:
    """A third-party IdP's published keys (and discovery document), served on loopback; `hang` stops answering."""

    def __init__(self, name: str, *, with_alg: bool) -> None:
        self.name = name
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"{name}-{uuid.uuid4().hex[:8]}"
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwk = public | {"kid": self.kid, "use": "sig"} | ({"alg": "RS256"} if with_alg else {})
        self.hanging = threading.Event()
        self.served: Served | None = None

    @property
    def issuer(self) -> str:
        assert self.served is not None
        return f"http://127.0.0.1:{self.served.port}/{self.name}"

    async def outage(self) -> None:
        """While `hanging` is set, answer nothing (the server's client times out); set from the test's thread."""
        while self.hanging.is_set():  # noqa: ASYNC110 (a threading.Event: the test runs in another thread)
            await anyio.sleep(0.05)

    def routes(self) -> list[Route]:
        async def jwks(_: Request) -> JSONResponse:
            await self.outage()
            return JSONResponse({"keys": [self.jwk]})

        async def discovery(_: Request) -> JSONResponse:
            await self.outage()
            return JSONResponse({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks.json",
                                 "id_token_signing_alg_values_supported": ["RS256"]})  # fmt: skip

        return [
            Route(f"/{self.name}/jwks.json", jwks),
            Route(f"/{self.name}/.well-known/openid-configuration", discovery),
        ]

    def token(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex} | claims
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": kid or self.kid, "typ": "at+jwt"})


@pytest.fixture
def entra_and_keycloak() -> Iterator[tuple[StandInIdp, StandInIdp]]:
    """Two stand-in IdPs on one loopback server: Entra-shaped (keys with `alg`), Keycloak-shaped (without)."""
    entra, keycloak = StandInIdp("entra", with_alg=True), StandInIdp("keycloak", with_alg=False)
    served = serve(
        Starlette(routes=entra.routes() + keycloak.routes()), loopback_socket(), label="idps", lifespan="off"
    )
    entra.served = keycloak.served = served
    try:
        yield entra, keycloak
    finally:
        entra.hanging.clear()
        keycloak.hanging.clear()
        if served.thread.is_alive():
            served.stop()


def issuers_file(
    path: Path,
    stack: Stack,
    entra: StandInIdp,
    keycloak: StandInIdp,
    *,
    globex_at: str = "entra",
    keycloak_first: bool = False,
) -> Path:
    """The dev IdP for acme, Entra for two tenants by `tid`, Keycloak for one; globex is Entra's or Keycloak's."""
    entra_tenant = "globex" if globex_at == "entra" else "umbrella"
    keycloak_tenant = "globex" if globex_at == "keycloak" else "umbrella"
    dev = f"""
[[issuer]]
issuer = "{stack.idp.issuer}"
tenants = ["acme", "readiness-probe"]
tenant_claim = "tenant_id"
"""
    entra_table = f"""
[[issuer]]
issuer = "{entra.issuer}"
tenants = ["{entra_tenant}", "initech"]
jwks_url = "{entra.issuer}/jwks.json"
algorithms = ["RS256"]
revocation = "none"
tenant_claim = "tid"
tenant_table = {{ "{ENTRA_TID_GLOBEX}" = "{entra_tenant}", "{ENTRA_TID_INITECH}" = "initech" }}
[issuer.claims]
person = "oid"
scopes = "scp"
roles = "groups"
role_table = {{ "{MANAGERS_GROUP}" = "supply_chain_manager" }}
"""
    keycloak_table = f"""
[[issuer]]
issuer = "{keycloak.issuer}"
tenant = "{keycloak_tenant}"
revocation = "none"
[issuer.claims]
roles = "realm_access.roles"
"""
    path.write_text(keycloak_table + dev + entra_table if keycloak_first else dev + entra_table + keycloak_table)
    return path


def entra_claims(server: Server, **more: Any) -> dict[str, Any]:
    pairwise_sub, oid = "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "00000000-0000-0000-66f3-3332eca7ea81"
    return {"aud": server.url, "sub": pairwise_sub, "oid": oid, "tid": ENTRA_TID_GLOBEX, "scp": "inventory:read",
            "groups": [MANAGERS_GROUP], "azp": "copilot-app"} | more  # fmt: skip


async def warehouses_of(admin_url: str, tenant: str) -> list[str]:
    rows = await admin_rows(
        admin_url, "SELECT code FROM inventory.warehouses WHERE tenant_id = :t ORDER BY code", t=tenant
    )
    return [row[0] for row in rows]


async def test_an_entra_shaped_token_is_read_through_its_mapping_and_acts_in_the_tenant_its_tid_maps_to(
    stack: Stack, extra_server: ExtraServer, entra_and_keycloak: tuple[StandInIdp, StandInIdp], tmp_path: Path,
    admin_url: str, seeded: None,
) -> None:  # fmt: skip
    entra, keycloak = entra_and_keycloak
    path = issuers_file(tmp_path / "issuers.toml", stack, entra, keycloak)
    with extra_server("inventory", trusted_issuers_file=path) as inventory:
        async with httpx2.AsyncClient(timeout=10) as http:
            token = entra.token(entra_claims(inventory))
            listed = result_of(await call_tool(http, inventory.url, token, "list_warehouses"))
            # groups unmapped by role_table grant nothing: an analyst-only group id is not a role name
            no_role = entra.token(entra_claims(inventory, groups=["supply_chain_manager", "analyst"]))
            refused = await call_tool(http, inventory.url, no_role, "list_warehouses")
    codes = [item["code"] for item in listed["structuredContent"]["items"]]
    assert codes == await warehouses_of(admin_url, "globex") and codes
    assert_scope_refused(refused, "list_warehouses", "inventory:read")


async def test_a_globex_bound_issuers_token_claiming_acme_is_refused_and_recorded_in_globex(
    stack: Stack, extra_server: ExtraServer, entra_and_keycloak: tuple[StandInIdp, StandInIdp], tmp_path: Path,
    admin_url: str, seeded: None,
) -> None:  # fmt: skip
    entra, keycloak = entra_and_keycloak
    path = issuers_file(tmp_path / "issuers.toml", stack, entra, keycloak, globex_at="keycloak")
    start = int((await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log"))[0][0])
    before = await snapshot(admin_url, "inventory")
    with extra_server("inventory", trusted_issuers_file=path) as inventory:
        claims = {"aud": inventory.url, "sub": "f3c1a9e2-4b7d-4c3e-9a1f-6d2b8e7c5a40", "scope": "inventory:read",
                  "realm_access": {"roles": ["supply_chain_manager"]}}  # fmt: skip
        async with httpx2.AsyncClient(timeout=10) as http:
            # A Keycloak-shaped token (UUID sub, nested roles, a JWKS without `alg`) acts in globex...
            accepted = result_of(await call_tool(http, inventory.url, keycloak.token(claims), "list_warehouses"))
            # ...and the same issuer's token naming acme is refused, whatever its signature.
            claiming = keycloak.token(claims | {"tenant_id": "acme"})
            answer = await call_tool(http, inventory.url, claiming, "list_warehouses")
            assert_unauthorized(answer, inventory)
            jti = claims_of(claiming)["jti"]
            rows = await admin_rows(
                admin_url,
                "SELECT tenant_id, user_id, tool, outcome, arguments, detail FROM inventory.audit_log "
                "WHERE seq > :s AND token_id = :j",
                s=start, j=jti,
            )  # fmt: skip
    codes = [item["code"] for item in accepted["structuredContent"]["items"]]
    assert codes == await warehouses_of(admin_url, "globex") and codes
    assert [row[:4] for row in rows] == [("globex", claims["sub"], "(transport)", "refused")]
    assert rows[0][4]["refusal"] == "tenant_mismatch"
    assert (
        rows[0][5] == "transport refusal tenant_mismatch x1: token claims tenant 'acme', its issuer speaks for 'globex'"
    )
    assert await snapshot(admin_url, "inventory") == before


async def test_an_unlisted_issuer_is_refused_and_the_refusal_logged_without_the_token(
    stack: Stack, extra_server: ExtraServer, entra_and_keycloak: tuple[StandInIdp, StandInIdp], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    entra, keycloak = entra_and_keycloak
    path = issuers_file(tmp_path / "issuers.toml", stack, entra, keycloak)
    stranger = StandInIdp("stranger", with_alg=True)
    stranger.served = entra.served
    with extra_server("inventory", trusted_issuers_file=path) as inventory:
        caplog.set_level(logging.WARNING, logger="securemcp.identity.refused_tokens")
        token = stranger.token(entra_claims(inventory))
        async with httpx2.AsyncClient(timeout=10) as http:
            answers = [await call_tool(http, inventory.url, token, "list_warehouses") for _ in range(3)]
    for answer in answers:
        assert_unauthorized(answer, inventory)
    # Only the lines about this issuer: the session's servers run in this process and log their own refusals.
    lines = [r.getMessage() for r in caplog.records
             if r.name == "securemcp.identity.refused_tokens" and stranger.issuer in r.getMessage()]  # fmt: skip
    assert lines == [f"token refused: issuer check failed (issuer '(unlisted)'): unlisted issuer '{stranger.issuer}'"]
    assert all(token not in r.getMessage() and token.split(".")[1] not in r.getMessage() for r in caplog.records)


async def test_a_token_whose_payload_is_nested_deep_gets_401_not_a_crash(
    stack: Stack, extra_server: ExtraServer, entra_and_keycloak: tuple[StandInIdp, StandInIdp], tmp_path: Path,
    admin_url: str,
) -> None:  # fmt: skip
    # With several issuers the verifier reads `iss` before any key: a payload of 6,000 `[`s once raised
    # RecursionError out of it (a 500 and a traceback for anyone, no token needed).
    entra, keycloak = entra_and_keycloak
    path = issuers_file(tmp_path / "issuers.toml", stack, entra, keycloak)
    nested = base64.urlsafe_b64encode(b"[" * 6000).rstrip(b"=").decode()
    token = f"eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.{nested}.c2ln"
    before = await snapshot(admin_url, "inventory")
    with extra_server("inventory", trusted_issuers_file=path) as inventory:
        async with httpx2.AsyncClient(timeout=10) as http:
            assert_unauthorized(await call_tool(http, inventory.url, token, "list_warehouses"), inventory)
    assert await snapshot(admin_url, "inventory") == before


async def test_the_metadata_lists_every_trusted_issuer(
    stack: Stack, extra_server: ExtraServer, entra_and_keycloak: tuple[StandInIdp, StandInIdp], tmp_path: Path
) -> None:
    entra, keycloak = entra_and_keycloak
    path = issuers_file(tmp_path / "issuers.toml", stack, entra, keycloak)
    with extra_server("inventory", trusted_issuers_file=path) as inventory:
        async with httpx2.AsyncClient(timeout=10) as http:
            metadata = (await http.get(inventory.metadata_url)).json()
    assert metadata["authorization_servers"] == [stack.idp.issuer, entra.issuer, keycloak.issuer]


async def test_one_issuers_outage_leaves_the_others_tokens_alone(
    stack: Stack, extra_server: ExtraServer, entra_and_keycloak: tuple[StandInIdp, StandInIdp], tmp_path: Path
) -> None:
    entra, keycloak = entra_and_keycloak
    path = issuers_file(tmp_path / "issuers.toml", stack, entra, keycloak, keycloak_first=True)
    keycloak.hanging.set()  # down before the server starts: its discovery never answers
    # extra_server returns once the dev IdP's probe token is accepted: the hung issuer, listed first, holds nothing up
    with extra_server("inventory", trusted_issuers_file=path) as inventory:
        async with httpx2.AsyncClient(timeout=15) as http:
            entra.hanging.set()  # and now Entra's keys stop answering: a token with a new kid waits for them
            stuck = anyio.create_task_group()
            async with stuck:
                unknown_kid = entra.token(entra_claims(inventory), kid="rotated-in")
                stuck.start_soon(call_tool, http, inventory.url, unknown_kid, "list_warehouses")
                await anyio.sleep(0.3)
                started = time.monotonic()
                alice = mint(stack.idp, user="alice@acme", server="inventory", audience=inventory.url)
                answer = await call_tool(http, inventory.url, alice, "list_warehouses")
                took = time.monotonic() - started
                entra.hanging.clear()
            assert entra.served is not None
            entra.served.stop()  # both stand-ins stopped outright: acme's tokens still pass
            again = await call_tool(http, inventory.url, mint(stack.idp, user="ana@acme", server="inventory",
                                                              audience=inventory.url), "list_warehouses")  # fmt: skip
    assert answer.status_code == 200 and result_of(answer)["isError"] is False
    assert took < 2.0, took  # not behind Entra's key fetch (a 5 s client timeout)
    assert again.status_code == 200 and result_of(again)["isError"] is False
