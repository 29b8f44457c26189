"""Dynamically registered clients survive a restart of the dev IdP (a real process, stopped and started),
so a client that registered once (an MCP host, the approval pages) keeps working."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from supplychain.processes import free_port
from tests.idp.flows import REDIRECT_URI, authorization_code, pkce, register_client
from tests.idp.processes import client_of, idp_process

pytestmark = pytest.mark.slow


async def test_a_registered_confidential_client_works_after_a_restart(idp_home: Path) -> None:
    port = free_port()
    with idp_process(idp_home, port):
        async with client_of(port) as idp:
            client = await register_client(idp, auth_method="client_secret_basic")
    registrations = idp_home / "idp" / "registered_clients.jsonl"
    assert stat.S_IMODE(registrations.stat().st_mode) == 0o600
    assert client["client_secret"] not in registrations.read_text(encoding="utf-8")  # only its hash
    with idp_process(idp_home, port):
        async with client_of(port) as idp:
            verifier, challenge = pkce()
            answer = await authorization_code(
                idp, user="alice@acme", client_id=client["client_id"], challenge=challenge
            )
            form = {
                "grant_type": "authorization_code",
                "code": answer["code"],
                "code_verifier": verifier,
                "redirect_uri": REDIRECT_URI,
                "resource": idp.resource("inventory"),
            }
            wrong = await idp.http.post("/token", data=form, auth=(client["client_id"], "not-the-secret"))
            assert wrong.status_code == 401
            right = await idp.http.post("/token", data=form, auth=(client["client_id"], client["client_secret"]))
            assert right.status_code == 200, right.text
