"""A flood of anonymous authorization requests stores nothing: it cannot evict a signed-in person's
session from the (bounded) session store, nor grow it."""

from __future__ import annotations

import httpx2

from idp.login_forms import LOGIN_COOKIE
from idp.sessions import COOKIE
from tests.idp.flows import Idp, answer_consent, authorize_params, log_in, pkce, redirect_params, register_client

SMALL_STORE = 20  # the store's bound, made small so that a flood several times its size fits in a test


async def test_a_flood_of_cookieless_authorizes_leaves_a_signed_in_session_intact(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    consent = await log_in(idp, authorize_params(client["client_id"], challenge), "alice@acme")
    assert "Allow access?" in consent.text
    alice_sid = idp.http.cookies[COOKIE]
    idp.sessions.max_sessions = SMALL_STORE
    size_before = len(idp.sessions)

    async with httpx2.AsyncClient(base_url=idp.settings.issuer, timeout=10) as flood:
        for index in range(SMALL_STORE * 3):
            flood.cookies.clear()  # every request from a browser the IdP has never seen
            _, flood_challenge = pkce()
            page = await flood.get("/authorize", params=authorize_params(client["client_id"], flood_challenge))
            assert page.status_code == 200 and "<title>Log in</title>" in page.text, index

    assert len(idp.sessions) == size_before == 1
    assert alice_sid in idp.sessions._sessions  # not evicted
    assert redirect_params(await answer_consent(idp, consent))["code"]  # still signed in: her consent counts
    assert set(page.cookies) == {LOGIN_COOKIE}  # what an anonymous browser gets: its login-form nonce only
