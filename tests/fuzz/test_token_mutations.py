"""Mutated tokens are never accepted: every character position of a real token changed, and the three
segments of real tokens recombined across users and servers.

All positions go through the server's own verifier (`securemcp.identity.tokens.JWTVerifier`, keys fetched from the
running dev IdP over HTTP, as a server does); a sample of the same tokens goes over real HTTP, where
each must get the exact 401 challenge and a valid token must still be served afterwards.

A mutation flips the highest bit of a base64url character's 6-bit value: that bit always carries data,
even in a segment's last character (whose low bits may be padding that decoders ignore, so a change
there can leave the decoded bytes, and thus the token's meaning, unchanged). Each position is also
replaced by a character outside the alphabet, and each dot is dropped.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator

import httpx2
import pytest
from securemcp.identity.keys import KeySet
from securemcp.identity.tokens import JWTVerifier

from deployment.policy import POLICY
from tests.http.expect import assert_unauthorized
from tests.http.rpc import call_tool, result_of
from tests.http.running import running_stack
from tests.http.stack import Stack
from tests.http.tokens import mint

pytestmark = pytest.mark.slow

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
HTTP_SAMPLE_EVERY = 23  # positions sent over HTTP as well (every position goes through the verifier)


@pytest.fixture(scope="module")
def stack(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("idp-keys"), ("inventory", "payments")) as running:
        yield running


async def verifier_for(stack: Stack, server: str, http: httpx2.AsyncClient) -> JWTVerifier:
    # No pause between key fetches: a mutated `kid` would otherwise wait for the shared fetch (up to 1 s).
    keys = KeySet(f"{stack.idp.issuer}/jwks.json", http, min_refresh_seconds=0.0)
    await keys.refresh()
    return JWTVerifier(
        policy=POLICY, issuer=stack.idp.issuer, resource_url=stack[server].url, keys=keys, revocations=None
    )


def mutations(token: str) -> Iterator[tuple[int, str]]:
    """(position, mutated token) for every position of `token`."""
    for position, char in enumerate(token):
        if char == ".":
            yield position, token[:position] + token[position + 1 :]
            yield position, token[:position] + "A" + token[position + 1 :]
        else:
            flipped = ALPHABET[ALPHABET.index(char) ^ 0b100000]
            yield position, token[:position] + flipped + token[position + 1 :]
            yield position, token[:position] + "*" + token[position + 1 :]


def tokens(stack: Stack) -> dict[str, tuple[str, str]]:
    """Real tokens by label: (audience server, token). Two of alice's, so even her own segments are tried."""
    return {
        "alice-inventory": ("inventory", mint(stack.idp, user="alice@acme", server="inventory")),
        "alice-inventory-2": ("inventory", mint(stack.idp, user="alice@acme", server="inventory")),
        "bob-inventory": ("inventory", mint(stack.idp, user="bob@globex", server="inventory")),
        "fred-payments": ("payments", mint(stack.idp, user="fred@acme", server="payments")),
        "gwen-payments": ("payments", mint(stack.idp, user="gwen@globex", server="payments")),
    }


async def test_every_position_of_a_token_mutated_is_refused(stack: Stack) -> None:
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    tried = 0
    async with httpx2.AsyncClient(timeout=10) as http:
        verifier = await verifier_for(stack, "inventory", http)
        assert await verifier.verify_token(token) is not None  # the original is fine
        for position, mutated in mutations(token):
            tried += 1
            assert await verifier.verify_token(mutated) is None, (position, token[position])
            if position % HTTP_SAMPLE_EVERY == 0:
                assert_unauthorized(await call_tool(http, inventory.url, mutated, "list_warehouses"), inventory)
        assert result_of(await call_tool(http, inventory.url, token, "list_warehouses"))["isError"] is False
    print(f"{tried} mutations of a {len(token)}-character token refused")
    assert tried == 2 * len(token)  # two mutations at every position, none skipped


async def test_segments_swapped_between_users_and_servers_are_refused(stack: Stack) -> None:
    real = tokens(stack)
    originals = {token for _server, token in real.values()}
    parts = {label: token.split(".") for label, (_server, token) in real.items()}
    tried = 0
    async with httpx2.AsyncClient(timeout=10) as http:
        verifiers = {name: await verifier_for(stack, name, http) for name in ("inventory", "payments")}
        for header_from, payload_from, signature_from in itertools.product(parts, repeat=3):
            forged = ".".join(
                (parts[header_from][0], parts[payload_from][1], parts[signature_from][2])
            )  # fmt: skip
            if forged in originals:
                continue  # every header from one IdP key is the same bytes: that is the original token
            tried += 1
            # Checked against the payload's own audience, so only the signature can refuse it.
            audience = real[payload_from][0]
            assert await verifiers[audience].verify_token(forged) is None, (header_from, payload_from, signature_from)
            server = stack[audience]
            assert_unauthorized(await call_tool(http, server.url, forged, "list_warehouses"
                                                if audience == "inventory" else "list_payments"), server)  # fmt: skip
        for server_name, token in real.values():
            tool = "list_warehouses" if server_name == "inventory" else "list_payments"
            assert result_of(await call_tool(http, stack[server_name].url, token, tool))["isError"] is False
    print(f"{tried} recombined tokens refused")
    assert tried >= 5**3 - 5 * 5  # every combination but the originals


async def test_truncated_and_extended_tokens_are_refused(stack: Stack) -> None:
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        verifier = await verifier_for(stack, "inventory", http)
        original = await verifier.verify_token(token)
        assert original is not None
        for cut in range(1, len(token)):
            assert await verifier.verify_token(token[:cut]) is None, cut
        for suffix in (".", "A", "=", ".AAAA", " ", "\t", "\x00"):
            assert await verifier.verify_token(token + suffix) is None, suffix
        # PyJWT alone accepts base64 padding on the signature (same bytes, another spelling of the
        # token); the verifier's compact-serialisation check refuses every non-canonical spelling.
        for spelling in (token + "==", token.replace(".", "=.", 1), token.replace("-", "+").replace("_", "/")):
            if spelling != token:
                assert await verifier.verify_token(spelling) is None, spelling
        assert_unauthorized(
            await call_tool(http, inventory.url, token[: len(token) // 2], "list_warehouses"), inventory
        )
