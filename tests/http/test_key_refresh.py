"""Key freshness that no caller can starve (`securemcp.identity.keys.KeySet`), against a real JWKS over loopback.

- A flood of tokens with random `kid`s cannot delay the pickup of a newly rotated key: the new key's
  token is accepted on its first request, and the flood costs the issuer at most one JWKS fetch per
  `min_refresh` (1 s) however many junk kids it sends.
- A cached verified token is used only while its key is still published: once the key is removed
  from the JWKS (two rotations retire it), the next key refresh stops its tokens. The server test
  waits for that refresh through the key set's fetch numbers (`KeySet.last_good_fetch`), not a clock.
"""

from __future__ import annotations

import math
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from securemcp.http.app import Issuer
from securemcp.identity.keys import KeySet
from securemcp.identity.tokens import JWTVerifier, discover

from deployment.policy import POLICY
from idp.keys import rotate_keys
from supplychain.servers import http_app, load_settings
from tests.http.conftest import ExtraServer
from tests.http.expect import assert_unauthorized
from tests.http.rpc import call_tool
from tests.http.stack import Idp, Server, Stack, loopback_socket, resource_url, serve, start_idp
from tests.http.tokens import claims_of, header_of, mint, sign, wait_until_accepting

FLOODERS = 8


@pytest.fixture
def own_idp(tmp_path: Path) -> Iterator[tuple[Idp, Path, socket.socket]]:
    """An IdP with keys of its own (rotated by these tests only), and the socket its server will use."""
    sock = loopback_socket()
    keys = tmp_path / "keys"
    idp = start_idp(keys, {"inventory": resource_url(sock.getsockname()[1])})
    yield idp, keys, sock
    if idp.served.thread.is_alive():
        idp.served.stop()


async def test_a_flood_of_random_kids_does_not_delay_a_rotated_key(
    stack: Stack, extra_server: ExtraServer, own_idp: tuple[Idp, Path, socket.socket]
) -> None:
    idp, keys, sock = own_idp
    with extra_server("inventory", issuer=idp, sock=sock) as inventory:
        claims = claims_of(mint(idp, user="alice@acme", server="inventory"))
        junk_sent = 0
        flood_under_way = anyio.Event()
        fetches_before, started = idp.requests["/jwks.json"], time.monotonic()

        async def flood(http: httpx2.AsyncClient) -> None:
            nonlocal junk_sent
            while True:
                forged = sign(idp, claims, kid=f"junk-{secrets.token_hex(8)}")  # really signed, kid unknown
                assert_unauthorized(await call_tool(http, inventory.url, forged, "list_warehouses"), inventory)
                junk_sent += 1
                if junk_sent >= 3 * FLOODERS:  # the flood is spending whatever refresh budget there is
                    flood_under_way.set()

        async with httpx2.AsyncClient(timeout=30) as http, anyio.create_task_group() as flooders:
            for _ in range(FLOODERS):
                flooders.start_soon(flood, http)
            await flood_under_way.wait()
            new_key = rotate_keys(keys)
            fresh = mint(idp, user="bob@globex", server="inventory")
            assert header_of(fresh)["kid"] == new_key.kid
            # Its first request, in the middle of the flood: accepted.
            response = await call_tool(http, inventory.url, fresh, "list_warehouses")
            assert response.status_code == 200, response.text
            flooders.cancel_scope.cancel()
        elapsed = time.monotonic() - started
    fetches = idp.requests["/jwks.json"] - fetches_before
    print(f"{junk_sent} junk kids in {elapsed:.1f} s cost {fetches} JWKS fetches")
    assert junk_sent >= 3 * FLOODERS
    assert 1 <= fetches <= math.ceil(elapsed / 1.0) + 1  # at most one per second, whatever the flood


@pytest.fixture
async def verifier_of(own_idp: tuple[Idp, Path, socket.socket]) -> AsyncIterator[tuple[JWTVerifier, KeySet]]:
    """The servers' verifier on the own IdP's JWKS, without a revocation list (not what is tested here)."""
    idp, _keys, _sock = own_idp
    async with httpx2.AsyncClient(timeout=5) as http:
        keys = KeySet((await discover(idp.issuer, http)).jwks_url, http)
        await keys.refresh()
        yield JWTVerifier(policy=POLICY, issuer=idp.issuer, resource_url=idp.settings.resources["inventory"], keys=keys,
                          revocations=None), keys  # fmt: skip


async def test_a_cached_token_stops_working_once_its_key_leaves_the_jwks(
    own_idp: tuple[Idp, Path, socket.socket], verifier_of: tuple[JWTVerifier, KeySet]
) -> None:
    idp, keys_dir, _sock = own_idp
    verifier, keys = verifier_of
    retiring = mint(idp, user="alice@acme", server="inventory")
    assert await verifier.verify_token(retiring) is not None  # verified and cached
    rotate_keys(keys_dir)
    kept = mint(idp, user="bob@globex", server="inventory")  # signed by the key that stays published
    await keys.refresh()
    assert await verifier.verify_token(retiring) is not None  # its key is still published: still good
    assert await verifier.verify_token(kept) is not None
    rotate_keys(keys_dir)  # the first key is deleted and unpublished
    assert header_of(retiring)["kid"] not in {key["kid"] for key in idp.keys.jwks()["keys"]}
    assert await verifier.verify_token(retiring) is not None  # the cache still holds it until the refresh
    await keys.refresh()
    assert await verifier.verify_token(retiring) is None
    assert await verifier.verify_token(kept) is not None


@contextmanager
def inventory_with_its_keys(idp: Idp, sock: socket.socket, **overrides: Any) -> Iterator[tuple[Server, KeySet]]:
    """An inventory server built as `supplychain serve` builds it, and the key set it verifies with."""
    settings = load_settings("inventory", port=sock.getsockname()[1], issuer_url=idp.issuer, **overrides)
    issuer = Issuer(settings)
    served = serve(http_app("inventory", settings, issuer=issuer), sock, label="inventory", proxy_headers=False)
    server = Server(name="inventory", settings=settings, served=served)
    try:
        wait_until_accepting(idp, server)
        yield server, issuer.keys
    finally:
        served.stop()


async def test_a_server_refuses_tokens_of_a_removed_key_after_its_periodic_refresh(
    stack: Stack, own_idp: tuple[Idp, Path, socket.socket]
) -> None:
    idp, keys_dir, sock = own_idp
    with inventory_with_its_keys(idp, sock, key_refresh_seconds=1) as (inventory, keys):
        retiring = mint(idp, user="alice@acme", server="inventory")
        async with httpx2.AsyncClient(timeout=10) as http:
            assert (await call_tool(http, inventory.url, retiring, "list_warehouses")).status_code == 200
            rotate_keys(keys_dir)
            rotate_keys(keys_dir)
            # Wait for the server's own periodic refresh, not for a time: the first of its fetches that
            # starts after the rotation and succeeds has the new JWKS. No request here has an unknown kid,
            # so that fetch is the periodic one.
            started = keys.fetch_count
            with anyio.fail_after(120):  # a guard against hanging only; nothing is timed
                # The key set lives on the server thread's event loop: no anyio.Event can cross to this one.
                while keys.last_good_fetch <= started:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            assert_unauthorized(await call_tool(http, inventory.url, retiring, "list_warehouses"), inventory)
            fresh = mint(idp, user="alice@acme", server="inventory")
            assert (await call_tool(http, inventory.url, fresh, "list_warehouses")).status_code == 200
