"""Revocations survive a restart of the dev IdP (a real `supplychain idp serve` process, stopped and
started again), and `idp.revocations` revokes by `jti` or by client from another process.

The resource servers' own revocation list reader (`securemcp.identity.tokens.RevocationList`) is the judge.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from securemcp.identity.tokens import RevocationList

from idp.revocations import revoke_client_tokens, revoke_jti
from supplychain.processes import free_port
from tests.idp.flows import Idp, error_of, user_tokens, verified
from tests.idp.processes import client_of, idp_process

pytestmark = pytest.mark.slow


async def still_accepted(idp: Idp, jti: str) -> bool:
    """What a resource server concludes from the revocation list it fetches now."""
    revocations = RevocationList(f"{idp.settings.issuer}/revocations", idp.http)
    await revocations.fetch()
    return revocations.check(jti)


async def test_a_revoked_token_stays_revoked_after_a_restart(idp_home: Path) -> None:
    port = free_port()
    with idp_process(idp_home, port):
        async with client_of(port) as idp:
            revoked = await user_tokens(idp, user="alice@acme", server="inventory")
            kept = await user_tokens(idp, user="alice@acme", server="inventory")
            answer = await idp.http.post(
                "/revoke", data={"token": revoked["access_token"], "client_id": revoked["client_id"]}
            )
            assert answer.status_code == 200
            _, revoked_claims = await verified(idp, revoked["access_token"])
            _, kept_claims = await verified(idp, kept["access_token"])
            assert not await still_accepted(idp, revoked_claims["jti"])
    with idp_process(idp_home, port):  # a new process: nothing of the old one's memory
        async with client_of(port) as idp:
            assert (await idp.http.get("/revocations")).json()["revoked"] == [revoked_claims["jti"]]
            assert not await still_accepted(idp, revoked_claims["jti"])
            assert await still_accepted(idp, kept_claims["jti"])
    assert oct((idp_home / "idp" / "revocations.sqlite3").stat().st_mode & 0o777) == "0o600"


async def test_revoking_a_client_from_another_process_revokes_its_tokens_and_refresh_tokens(idp_home: Path) -> None:
    port = free_port()
    with idp_process(idp_home, port):
        async with client_of(port) as idp:
            first = await user_tokens(idp, user="alice@acme", server="inventory")
            other = await user_tokens(idp, user="bob@globex", server="inventory")
            _, first_claims = await verified(idp, first["access_token"])
            _, other_claims = await verified(idp, other["access_token"])

            assert revoke_client_tokens(first["client_id"]) == 1  # this test process, not the server's

            assert not await still_accepted(idp, first_claims["jti"])
            assert await still_accepted(idp, other_claims["jti"])
            refreshed = await idp.http.post(
                "/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": first["refresh_token"],
                    "client_id": first["client_id"],
                    "resource": idp.resource("inventory"),
                },
            )
            assert error_of(refreshed) == "invalid_grant"
            assert (await idp.http.get("/revocations")).json()["revoked"] == [first_claims["jti"]]


async def test_revoking_by_jti_from_another_process(idp_home: Path) -> None:
    port = free_port()
    with idp_process(idp_home, port):
        async with client_of(port) as idp:
            tokens = await user_tokens(idp, user="fred@acme", server="payments")
            _, claims = await verified(idp, tokens["access_token"])
            assert await still_accepted(idp, claims["jti"])
            assert revoke_jti(claims["jti"]) is True
            assert not await still_accepted(idp, claims["jti"])
            assert revoke_jti("never-issued-jti") is False  # listed anyway, for the longest token lifetime
            assert sorted((await idp.http.get("/revocations")).json()["revoked"]) == sorted(
                [claims["jti"], "never-issued-jti"]
            )
