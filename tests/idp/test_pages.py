"""The login and consent pages: escaping, CSRF, session fixation, framing."""

from __future__ import annotations

import httpx2

from fixtures.tenants import DEV_PASSWORDS
from idp.login_forms import LOGIN_COOKIE
from idp.sessions import COOKIE
from tests.idp.flows import (
    Idp,
    answer_consent,
    authorize_params,
    form,
    hidden_fields,
    log_in,
    pkce,
    redirect_params,
    register_client,
)

FORM_EXPIRED = "This form expired or did not come from this server. Start again."
XSS = """<script>alert("x")</script><img src=x onerror=alert(1)>'"&"""


async def test_client_name_is_escaped_on_the_consent_page(idp: Idp) -> None:
    client = await register_client(idp, name=XSS)
    _, challenge = pkce()
    consent = await log_in(idp, authorize_params(client["client_id"], challenge), "alice@acme")
    assert "Allow access?" in consent.text
    assert "<script>" not in consent.text and "<img" not in consent.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#x27;&quot;&amp;" in (
        consent.text
    )


async def test_consent_page_shows_client_scopes_and_redirect_uri(idp: Idp) -> None:
    client = await register_client(idp, name="Inspector")
    _, challenge = pkce()
    params = authorize_params(client["client_id"], challenge, scope="inventory:read logistics:read")
    consent = await log_in(idp, params, "alice@acme")
    shown = consent.text.split("<form")[0]
    assert "<strong>Inspector</strong>" in shown
    assert "<code>inventory:read</code>" in shown and "<code>logistics:read</code>" in shown
    assert "<code>http://127.0.0.1:33418/callback</code>" in shown


async def test_pages_forbid_framing_scripts_and_caching(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    page = await idp.http.get("/authorize", params=authorize_params(client["client_id"], challenge))
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    # An anonymous browser gets its login-form nonce only: no session cookie, nothing stored server-side.
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith(f"{LOGIN_COOKIE}=") and len(page.headers.get_list("set-cookie")) == 1
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/login" in cookie


async def test_login_without_or_with_a_wrong_csrf_token_is_forbidden(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    page = await idp.http.get("/authorize", params=authorize_params(client["client_id"], challenge))
    fields = dict(hidden_fields(page.text))
    credentials = {"username": "alice@acme", "password": DEV_PASSWORDS["alice@acme"]}
    query = fields["authorize_query"]
    for csrf in ({}, {"csrf_token": ""}, {"csrf_token": fields["csrf_token"] + "x"}):
        response = await idp.http.post("/login", data={**credentials, **csrf, "authorize_query": query})
        assert response.status_code == 403 and FORM_EXPIRED in response.text
    # The right token for another authorization request than the form's is refused too.
    response = await idp.http.post("/login", data={**credentials, **fields, "authorize_query": query + "&x=1"})
    assert response.status_code == 403 and FORM_EXPIRED in response.text
    # From another browser, even the right token is refused: it is bound to this browser's nonce cookie.
    async with httpx2.AsyncClient(base_url=idp.settings.issuer) as other_browser:
        response = await other_browser.post("/login", data={**credentials, **fields})
        assert response.status_code == 403 and FORM_EXPIRED in response.text
        other_browser.cookies.set(LOGIN_COOKIE, "A" * 43, domain="127.0.0.1", path="/login")  # a nonce of its own
        response = await other_browser.post("/login", data={**credentials, **fields})
    assert response.status_code == 403 and FORM_EXPIRED in response.text
    response = await idp.http.post("/login", data={**credentials, **fields})  # this browser: accepted
    assert response.status_code == 303


async def test_consent_without_the_csrf_token_is_forbidden_and_issues_no_code(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    consent = await log_in(idp, authorize_params(client["client_id"], challenge), "alice@acme")
    fields = [(name, value) for name, value in hidden_fields(consent.text) if name != "csrf_token"]
    response = await idp.http.post("/authorize", data=form([*fields, ("decision", "approve")]))
    assert response.status_code == 403
    assert "location" not in response.headers
    assert idp.state.codes == {}


async def test_csrf_token_of_another_session_is_refused(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    params = authorize_params(client["client_id"], challenge)
    victim = await log_in(idp, params, "alice@acme")
    async with httpx2.AsyncClient(base_url=idp.settings.issuer) as attacker_browser:
        attacker_page = await attacker_browser.get("/authorize", params=params)
    attacker_csrf = dict(hidden_fields(attacker_page.text))["csrf_token"]
    assert attacker_csrf != dict(hidden_fields(victim.text))["csrf_token"]
    fields = [(n, attacker_csrf if n == "csrf_token" else v) for n, v in hidden_fields(victim.text)]
    response = await idp.http.post("/authorize", data=form([*fields, ("decision", "approve")]))
    assert response.status_code == 403


async def test_logging_in_replaces_the_session_id(idp: Idp) -> None:
    """A session id planted before login is never adopted, and a second login gets a new id too."""
    client = await register_client(idp)
    _, challenge = pkce()
    idp.http.cookies.set(COOKIE, "planted-by-an-attacker", domain="127.0.0.1")
    consent = await log_in(idp, authorize_params(client["client_id"], challenge), "alice@acme")
    first = idp.http.cookies[COOKIE]
    assert first != "planted-by-an-attacker" and len(idp.sessions) == 1
    assert redirect_params(await answer_consent(idp, consent))["code"]
    params = authorize_params(client["client_id"], challenge, state="again")
    again = await log_in(idp, httpx2.QueryParams([*params.multi_items(), ("prompt", "login")]), "alice@acme")
    assert "Allow access?" in again.text
    assert idp.http.cookies[COOKIE] != first and len(idp.sessions) == 1  # replaced, not added
