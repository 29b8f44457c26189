"""What the consent page tells the person: where the answer goes (with a warning for localhost), and that
there is nothing to allow when their roles allow nothing on the requested resource."""

from __future__ import annotations

from tests.idp.flows import (
    Idp,
    authorize_params,
    form,
    hidden_fields,
    log_in,
    pkce,
    redirect_params,
    register_client,
)

LOOPBACK_WARNING = "this address is on your own computer (localhost)"


async def test_the_redirect_host_is_shown_plainly_and_https_gets_no_warning(idp: Idp) -> None:
    client = await register_client(idp, redirect_uris=["https://claude.ai/api/mcp/auth_callback"])
    _, challenge = pkce()
    params = authorize_params(client["client_id"], challenge, redirect_uri="https://claude.ai/api/mcp/auth_callback")
    consent = await log_in(idp, params, "alice@acme")
    shown = consent.text.split("<form")[0]
    assert "Your answer goes to <strong>claude.ai</strong>" in shown
    assert "<code>https://claude.ai/api/mcp/auth_callback</code>" in shown
    assert LOOPBACK_WARNING not in consent.text


async def test_a_localhost_redirect_uri_gets_a_warning(idp: Idp) -> None:
    for uri in ("http://127.0.0.1:33418/callback", "http://localhost:6274/oauth/callback", "http://[::1]:6274/cb"):
        client = await register_client(idp, name="Inspector", redirect_uris=[uri])
        _, challenge = pkce()
        consent = await log_in(idp, authorize_params(client["client_id"], challenge, redirect_uri=uri), "alice@acme")
        shown = consent.text.split("<form")[0]
        assert LOOPBACK_WARNING in shown, uri
        assert "pretend to be Inspector" in shown


async def test_nothing_grantable_on_the_resource_says_so_and_offers_no_allow(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    params = authorize_params(client["client_id"], challenge, resources=(idp.resource("payments"),))
    consent = await log_in(idp, params, "alice@acme")  # supply_chain_manager: nothing on payments
    assert consent.status_code == 200
    assert "Nothing can be allowed:" in consent.text
    assert f"none of the requested scopes on <code>{idp.resource('payments')}</code>" in consent.text
    assert "value=approve" not in consent.text and ">Allow<" not in consent.text
    assert "<button type=submit name=decision value=deny>Back to the application</button>" in consent.text

    back = redirect_params(
        await idp.http.post("/authorize", data=form([*hidden_fields(consent.text), ("decision", "deny")]))
    )
    assert back["error"] == "access_denied"


async def test_a_forged_allow_for_nothing_grantable_is_refused_and_issues_no_code(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    params = authorize_params(
        client["client_id"], challenge, scope="payments:read", resources=(idp.resource("payments"),)
    )
    consent = await log_in(idp, params, "alice@acme")
    forged = await idp.http.post("/authorize", data=form([*hidden_fields(consent.text), ("decision", "approve")]))
    answer = redirect_params(forged)
    assert answer["error"] == "access_denied" and "code" not in answer
    assert answer["error_description"] == (
        "The user's roles allow none of the requested scopes on the requested resources."
    )
    assert answer["iss"] == idp.settings.issuer
    assert idp.state.codes == {}


async def test_a_grantable_resource_still_offers_allow(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    params = authorize_params(client["client_id"], challenge, resources=(idp.resource("inventory"),))
    consent = await log_in(idp, params, "alice@acme")
    shown = consent.text.split("<form")[0]
    assert "<code>inventory:read</code>" in shown and "<code>inventory:reorder</code>" in shown
    assert "logistics:read" not in shown  # alice may read logistics, but not on this resource
    assert ">Allow<" in consent.text


async def test_a_sign_in_for_a_person_with_no_mcp_scope_is_still_grantable(idp: Idp) -> None:
    client = await register_client(idp)
    _, challenge = pkce()
    consent = await log_in(idp, authorize_params(client["client_id"], challenge, scope="openid"), "priya@acme")
    assert "to sign you in" in consent.text and ">Allow<" in consent.text
