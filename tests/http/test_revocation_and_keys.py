"""Revocation within the stated bound, fail-closed when the issuer is unreachable, and key rotation.

The bound (ServerSettings.revocation_staleness_seconds, at most 5 s): a server polls the issuer's
revocation list every second and refuses every token once its copy is older than the bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx2
import pytest

from idp.keys import rotate_keys
from tests.http.conftest import ExtraServer
from tests.http.expect import assert_unauthorized
from tests.http.rpc import call_tool, result_of
from tests.http.stack import Server, Stack, loopback_socket, resource_url, start_idp
from tests.http.tokens import claims_of, flow_token, header_of, mint, sign

BOUND_SECONDS = 5.0
RecordProperty = Callable[[str, object], None]  # pytest's `record_property` fixture


async def status_of(http: httpx2.AsyncClient, server: Server, token: str) -> int:
    return (await call_tool(http, server.url, token, "list_warehouses")).status_code


async def seconds_until_refused(http: httpx2.AsyncClient, server: Server, token: str, limit: float) -> float:
    """Poll every 50 ms; the seconds until `token` is refused (fails if it is still served after `limit`)."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < limit:
        if await status_of(http, server, token) == 401:
            return elapsed
        await anyio.sleep(0.05)
    pytest.fail(f"token still accepted {limit} s later")


async def test_a_revoked_token_is_refused_within_the_bound(stack: Stack, record_property: RecordProperty) -> None:
    inventory = stack["inventory"]
    tokens = await flow_token(stack.idp, user="alice@acme", server="inventory", scope="inventory:read")
    async with httpx2.AsyncClient(timeout=10) as http:
        assert await status_of(http, inventory, tokens["access_token"]) == 200
        revoked = await http.post(
            f"{stack.idp.issuer}/revoke",
            data={"token": tokens["access_token"], "token_type_hint": "access_token", "client_id": tokens["client_id"]},
        )
        assert revoked.status_code == 200
        latency = await seconds_until_refused(http, inventory, tokens["access_token"], limit=BOUND_SECONDS + 1)
        assert_unauthorized(await call_tool(http, inventory.url, tokens["access_token"], "list_warehouses"), inventory)
        # Another token of the same user is not affected.
        other = mint(stack.idp, user="alice@acme", server="inventory")
        assert await status_of(http, inventory, other) == 200
    record_property("revocation_latency_seconds", round(latency, 3))
    print(f"revocation latency: {latency:.3f} s")
    assert latency <= BOUND_SECONDS


async def test_an_unreachable_issuer_fails_closed_after_the_staleness_bound(
    stack: Stack, extra_server: ExtraServer, tmp_path: Path, record_property: RecordProperty
) -> None:
    sock = loopback_socket()
    idp = start_idp(tmp_path / "keys", {"inventory": resource_url(sock.getsockname()[1])})
    try:
        with extra_server("inventory", issuer=idp, sock=sock) as inventory:
            alice, bob = (mint(idp, user=user, server="inventory") for user in ("alice@acme", "bob@globex"))
            async with httpx2.AsyncClient(timeout=10) as http:
                assert await status_of(http, inventory, alice) == 200
                idp.served.stop()
                # Within the bound a valid token still works: the copy of the list is fresh enough.
                assert await status_of(http, inventory, alice) == 200
                after_stop = await seconds_until_refused(http, inventory, alice, limit=BOUND_SECONDS + 1.5)
                # Once stale, every token is refused, whoever it belongs to.
                assert_unauthorized(await call_tool(http, inventory.url, bob, "list_warehouses"), inventory)
    finally:
        if idp.served.thread.is_alive():
            idp.served.stop()
    record_property("fail_closed_after_seconds", round(after_stop, 3))
    print(f"refused {after_stop:.3f} s after the issuer stopped")
    # The last successful fetch was at most one poll interval (1 s) before the stop.
    assert BOUND_SECONDS - 1.5 <= after_stop <= BOUND_SECONDS + 1.0


async def test_tokens_keep_working_across_a_key_rotation(
    stack: Stack, extra_server: ExtraServer, tmp_path: Path
) -> None:
    sock = loopback_socket()
    keys = tmp_path / "keys"
    idp = start_idp(keys, {"inventory": resource_url(sock.getsockname()[1])})
    try:
        with extra_server("inventory", issuer=idp, sock=sock) as inventory:
            old = mint(idp, user="alice@acme", server="inventory")
            async with httpx2.AsyncClient(timeout=10) as http:
                assert await status_of(http, inventory, old) == 200
                new_key = rotate_keys(keys)
                new = mint(idp, user="bob@globex", server="inventory")
                assert header_of(new)["kid"] == new_key.kid != header_of(old)["kid"]
                jwks = (await http.get(f"{idp.issuer}/jwks.json")).json()
                assert [key["kid"] for key in jwks["keys"]] == [new_key.kid, header_of(old)["kid"]]
                # The server has never seen the new kid: it refreshes the JWKS and accepts the token.
                assert result_of(await call_tool(http, inventory.url, new, "list_warehouses"))["isError"] is False
                assert await status_of(http, inventory, old) == 200
    finally:
        idp.served.stop()


async def test_unknown_kids_cannot_make_a_server_hammer_the_issuer(
    stack: Stack, extra_server: ExtraServer, tmp_path: Path
) -> None:
    sock = loopback_socket()
    idp = start_idp(tmp_path / "keys", {"inventory": resource_url(sock.getsockname()[1])})
    try:
        with extra_server("inventory", issuer=idp, sock=sock) as inventory:
            claims = claims_of(mint(idp, user="alice@acme", server="inventory"))
            async with httpx2.AsyncClient(timeout=10) as http:

                async def refused(kid: str) -> None:
                    forged = sign(idp, claims, kid=kid)
                    assert_unauthorized(await call_tool(http, inventory.url, forged, "list_warehouses"), inventory)

                fetched, started = idp.requests["/jwks.json"], time.monotonic()
                async with anyio.create_task_group() as burst:  # 20 junk kids at once share fetches
                    for number in range(20):
                        burst.start_soon(refused, f"garbage-{number}")
                elapsed = time.monotonic() - started
                # The same junk kid again and again is refused from memory: no fetch at all.
                after_burst = idp.requests["/jwks.json"]
                for _ in range(20):
                    await refused("garbage-0")
            # At most one fetch per second (KeySet's min_refresh), however many kids were sent.
            assert 1 <= after_burst - fetched <= math.ceil(elapsed) + 1
            assert idp.requests["/jwks.json"] == after_burst
    finally:
        idp.served.stop()
