"""OpenID Connect sign-in as the approval pages do it: authlib's Starlette client, a scripted browser, real HTTP.

`auth_time`, `prompt=login` and `max_age` are what the approval pages rely on to demand a fresh
sign-in. An old login is made by moving the IdP session's login time back (no sleeping).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx2
import pytest

from idp.clients import add_sign_in_client, clients_file
from idp.sessions import COOKIE
from tests.idp.flows import Idp, hidden_fields, verified
from tests.idp.relying_party import RelyingParty, answer, page_kind, relying_party, submit

PASSWORD = {"username": "priya@acme", "password": "priya-dev-password"}


@pytest.fixture
async def rp(idp: Idp) -> AsyncIterator[RelyingParty]:
    async with relying_party(idp) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(follow_redirects=True, timeout=10) as client:
        yield client


async def sign_in(idp: Idp, rp: RelyingParty, browser: httpx2.AsyncClient, **params: str) -> httpx2.Response:
    """Start at the relying party; the first IdP page the browser lands on."""
    return await browser.get(rp.url + "/approvals/auth/login", params=params)


async def age_login(idp: Idp, browser: httpx2.AsyncClient, seconds: int) -> int:
    """Pretend the browser's IdP login happened `seconds` earlier; the new login time."""
    session = idp.sessions._sessions[browser.cookies[COOKIE]]
    assert session.auth_time is not None
    session.auth_time -= seconds
    return session.auth_time


async def first_sign_in(idp: Idp, rp: RelyingParty, browser: httpx2.AsyncClient) -> dict[str, object]:
    page = await sign_in(idp, rp, browser)
    assert page_kind(page) == "login"
    consent = await submit(browser, idp.settings.issuer, page, **PASSWORD)
    assert page_kind(consent) == "consent"
    assert "to sign you in" in consent.text and "act for you" not in consent.text
    return answer(await submit(browser, idp.settings.issuer, consent, decision="approve"))


async def test_the_starlette_client_gets_an_id_token_with_the_person_tenant_and_roles(
    idp: Idp, rp: RelyingParty, browser: httpx2.AsyncClient
) -> None:
    before = int(time.time())
    token = await first_sign_in(idp, rp, browser)
    after = int(time.time())
    assert set(token) == {"userinfo", "id_token", "access_token", "token_type", "expires_in", "scope", "expires_at"}
    assert token["scope"] == "openid"  # no refresh token for a sign-in

    header, claims = await verified(idp, str(token["id_token"]))  # joserfc against the published JWKS
    (key,) = (await idp.http.get("/jwks.json")).json()["keys"]
    assert header == {"alg": "RS256", "kid": key["kid"], "typ": "JWT"}
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "tenant_id", "roles"}
    assert (claims["iss"], claims["aud"]) == (idp.settings.issuer, rp.client_id)
    assert (claims["sub"], claims["tenant_id"], claims["roles"]) == ("priya@acme", "acme", ["approver"])
    assert before <= claims["auth_time"] <= claims["iat"] <= after
    assert claims["exp"] == claims["iat"] + idp.settings.access_token_ttl_seconds
    assert token["userinfo"] == claims  # authlib validated the same claims (signature, iss, aud, nonce)


async def test_auth_time_is_when_the_password_was_typed_not_when_the_token_was_made(
    idp: Idp, rp: RelyingParty, browser: httpx2.AsyncClient
) -> None:
    await first_sign_in(idp, rp, browser)
    logged_in_at = await age_login(idp, browser, 1000)
    consent = await sign_in(idp, rp, browser)  # live IdP session: no password asked
    assert page_kind(consent) == "consent"
    token = answer(await submit(browser, idp.settings.issuer, consent, decision="approve"))
    _, claims = await verified(idp, str(token["id_token"]))
    assert claims["auth_time"] == logged_in_at
    assert claims["iat"] - claims["auth_time"] >= 1000


async def test_prompt_login_asks_for_the_password_again_despite_a_live_session(
    idp: Idp, rp: RelyingParty, browser: httpx2.AsyncClient
) -> None:
    await first_sign_in(idp, rp, browser)
    old = await age_login(idp, browser, 1000)
    page = await sign_in(idp, rp, browser, prompt="login")
    assert page_kind(page) == "login"
    before = int(time.time())
    consent = await submit(browser, idp.settings.issuer, page, **PASSWORD)
    assert page_kind(consent) == "consent"  # once typed, the same request goes on to consent (no loop)
    token = answer(await submit(browser, idp.settings.issuer, consent, decision="approve"))
    _, claims = await verified(idp, str(token["id_token"]))
    assert claims["auth_time"] >= before > old


async def test_prompt_login_cannot_be_skipped_by_posting_the_consent_form(
    idp: Idp, rp: RelyingParty, browser: httpx2.AsyncClient
) -> None:
    await first_sign_in(idp, rp, browser)
    codes_before = set(idp.state.codes)
    page = await sign_in(idp, rp, browser, prompt="login")
    assert page_kind(page) == "login"
    fields = dict(hidden_fields(page.text))
    query = httpx2.QueryParams(fields.pop("authorize_query"))
    consent_fields = {**dict(query.multi_items()), "decision": "approve"}
    # The login form's token is for /login only: a consent post carrying it is refused outright.
    misused = await browser.post(idp.settings.issuer + "/authorize", data={**consent_fields, **fields})
    assert misused.status_code == 403
    # With the session's own CSRF token (from an earlier consent page), it is sent back to the password form.
    session_csrf = idp.sessions._sessions[browser.cookies[COOKIE]].csrf_token
    forged = await browser.post(idp.settings.issuer + "/authorize", data={**consent_fields, "csrf_token": session_csrf})
    assert page_kind(forged) == "login"
    assert set(idp.state.codes) == codes_before  # no code was issued


@pytest.mark.parametrize(("age", "max_age", "expected"), [(120, "60", "login"), (120, "600", "consent")])
async def test_max_age_asks_for_the_password_only_when_the_login_is_older(
    idp: Idp, rp: RelyingParty, browser: httpx2.AsyncClient, age: int, max_age: str, expected: str
) -> None:
    await first_sign_in(idp, rp, browser)
    logged_in_at = await age_login(idp, browser, age)
    page = await sign_in(idp, rp, browser, max_age=max_age)
    assert page_kind(page) == expected
    if expected == "login":
        page = await submit(browser, idp.settings.issuer, page, **PASSWORD)
    token = answer(await submit(browser, idp.settings.issuer, page, decision="approve"))
    _, claims = await verified(idp, str(token["id_token"]))
    if expected == "login":
        assert claims["auth_time"] > logged_in_at
        assert claims["iat"] - claims["auth_time"] <= int(max_age)
    else:
        assert claims["auth_time"] == logged_in_at


async def test_max_age_zero_asks_every_time_and_still_completes(
    idp: Idp, rp: RelyingParty, browser: httpx2.AsyncClient
) -> None:
    await first_sign_in(idp, rp, browser)
    page = await sign_in(idp, rp, browser, max_age="0")
    assert page_kind(page) == "login"
    consent = await submit(browser, idp.settings.issuer, page, **PASSWORD)
    assert page_kind(consent) == "consent"
    token = answer(await submit(browser, idp.settings.issuer, consent, decision="approve"))
    assert "id_token" in token


async def test_a_pre_registered_sign_in_client_signs_people_in(idp: Idp, browser: httpx2.AsyncClient) -> None:
    async with relying_party(idp, pre_registered=True) as pages:
        token = await first_sign_in(idp, pages, browser)
        _, claims = await verified(idp, str(token["id_token"]))
        assert (claims["aud"], claims["sub"]) == (pages.client_id, "priya@acme")


@pytest.mark.parametrize("uris", [[], ["http://pages.example/approvals/auth/callback"], ["https://x.example/cb#f"]])
def test_a_sign_in_client_needs_acceptable_redirect_uris(idp_home: object, uris: list[str]) -> None:
    with pytest.raises(ValueError, match="redirect URIs must be https, or http on a loopback address"):
        add_sign_in_client(name="Approval pages", redirect_uris=uris)
    assert not clients_file().exists()
