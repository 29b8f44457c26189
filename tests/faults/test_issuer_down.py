"""The authorization server goes away: what keeps working, and what fails closed.

Already proven in tests/http/test_revocation_and_keys.py (not repeated here):
- `test_an_unreachable_issuer_fails_closed_after_the_staleness_bound`: with revocation checking on (the
  default), every token is refused once the revocation list is older than its bound (5 s).

Proven here, with revocation checking off (`..._REVOCATION=none`, a deployment that relies on short
token lifetimes instead), so that only the key cache is at work:
- keys fetched before the outage keep verifying valid tokens, including tokens the server has never
  seen (verification is offline: signature, issuer, audience, expiry), until each token's own expiry;
  the key set itself has no time bound (keys change only when a refresh replaces them);
- a token signed with a key the server has not seen is refused with the 401 challenge, promptly
  (the refresh it triggers fails within the client's 5 s timeout), and the server keeps serving.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from idp.keys import rotate_keys
from tests.faults.conftest import OwnDatabase
from tests.http.expect import assert_unauthorized
from tests.http.rpc import call_tool, result_of
from tests.http.running import running_stack
from tests.http.stack import Stack
from tests.http.tokens import mint

pytestmark = pytest.mark.slow

REFUSAL_BOUND_SECONDS = 10.0


@pytest.fixture
def stack(own_database: OwnDatabase, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "keys", ("inventory",), revocation="none") as running:
        yield running


async def test_cached_keys_keep_verifying_while_the_issuer_is_down(stack: Stack, tmp_path: Path) -> None:
    inventory = stack["inventory"]
    seen = mint(stack.idp, user="alice@acme", server="inventory")
    unseen = mint(stack.idp, user="bob@globex", server="inventory")
    async with httpx2.AsyncClient(timeout=15) as http:
        assert result_of(await call_tool(http, inventory.url, seen, "list_warehouses"))["isError"] is False
        stack.idp.served.stop()
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"{stack.idp.issuer}/jwks.json", timeout=2)
        # Longer than the 5 s revocation bound would allow, had revocation checking been on.
        for wait in (0.0, 6.0):
            await anyio.sleep(wait)
            for token in (seen, unseen):
                assert result_of(await call_tool(http, inventory.url, token, "list_warehouses"))["isError"] is False
        # A key the server never saw (rotated in while the issuer is down) cannot be fetched: refused.
        rotate_keys(tmp_path / "keys")
        unknown_key = mint(stack.idp, user="alice@acme", server="inventory")
        started = time.monotonic()
        assert_unauthorized(await call_tool(http, inventory.url, unknown_key, "list_warehouses"), inventory)
        assert time.monotonic() - started <= REFUSAL_BOUND_SECONDS
        assert result_of(await call_tool(http, inventory.url, seen, "list_warehouses"))["isError"] is False
