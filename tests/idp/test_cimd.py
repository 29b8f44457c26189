"""Client ID Metadata Documents, served by a real local HTTPS server with the repo's dev certificate,
under the development setting that allows loopback addresses: the flow, and the documents an attacker
would serve (wrong client_id, oversize, slow, redirecting, with a secret, other redirect URIs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from supplychain.devcerts import write_dev_certificates
from tests.idp.documents import DocumentServer, document_server
from tests.idp.flows import (
    Idp,
    answer_consent,
    authorize_params,
    error_of,
    exchange_code,
    log_in,
    pkce,
    redirect_params,
    verified,
)


@pytest.fixture
def dev_certs(idp_home: Path) -> dict[str, Path]:
    return write_dev_certificates()


@pytest.fixture
def idp_overrides(dev_certs: dict[str, Path]) -> dict[str, Any]:
    return {"cimd_allow_private": True, "cimd_ca_file": dev_certs["ca"], "cimd_timeout_seconds": 1}


@pytest.fixture
async def documents(dev_certs: dict[str, Path]) -> AsyncIterator[DocumentServer]:
    async with document_server(dev_certs["certificate"], dev_certs["key"]) as served:
        yield served


async def refusal(idp: Idp, client_id: str, **request: Any) -> str:
    """The error page an authorization request with this client_id gets (never a redirect)."""
    _, challenge = pkce()
    response = await idp.http.get("/authorize", params=authorize_params(client_id, challenge, **request))
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    return response.text


async def test_a_client_named_by_its_document_url_signs_in_and_gets_a_token(
    idp: Idp, documents: DocumentServer
) -> None:
    metadata = (await idp.http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["client_id_metadata_document_supported"] is True
    client_id = documents.url("good")
    verifier, challenge = pkce()
    consent = await log_in(idp, authorize_params(client_id, challenge), "alice@acme")
    assert "<strong>Inspector (CIMD)</strong>" in consent.text and f"<code>{client_id}</code>" in consent.text
    answer = redirect_params(await answer_consent(idp, consent))
    response = await exchange_code(
        idp, code=answer["code"], verifier=verifier, client_id=client_id, resources=(idp.resource("inventory"),)
    )
    assert response.status_code == 200, response.text
    _, claims = await verified(idp, response.json()["access_token"])
    assert claims["client_id"] == client_id
    assert documents.hits["good"] == 1  # authorize, consent and token used the cached document


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("mismatch", "the document&#x27;s client_id is not exactly the URL it was fetched from"),
        ("big", "larger than 5120 bytes"),
        ("chunked", "larger than 5120 bytes"),
        ("slow", "did not arrive within 1 s"),
        ("redirect", "answered HTTP 302"),
        ("secret", "has no secret: use &#x27;none&#x27; with PKCE"),
    ],
)
async def test_a_hostile_document_is_refused_with_its_reason(
    idp: Idp, documents: DocumentServer, name: str, reason: str
) -> None:
    page = await refusal(idp, documents.url(name))
    assert "invalid_client" in page and reason in page
    assert documents.hits["good"] == 0  # a redirect is not followed
    assert idp.state.codes == {}


async def test_a_refused_document_cannot_be_used_at_the_token_endpoint_either(
    idp: Idp, documents: DocumentServer
) -> None:
    response = await idp.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "code_verifier": "y" * 43,
            "client_id": documents.url("mismatch"),
            "redirect_uri": "http://127.0.0.1:33418/callback",
        },
    )
    assert error_of(response) == "invalid_client"


async def test_a_redirect_uri_not_in_the_document_is_refused_and_never_redirected(
    idp: Idp, documents: DocumentServer
) -> None:
    page = await refusal(idp, documents.url("good"), redirect_uri="http://127.0.0.1:33418/elsewhere")
    assert "invalid_request" in page


@pytest.mark.parametrize(
    "shape",
    [
        "https://127.0.0.1:{port}/",
        "https://127.0.0.1:{port}/clients/good.json#x",
        "https://user@127.0.0.1:{port}/clients/good.json",
        "https://127.0.0.1:{port}/clients/../clients/good.json",
    ],
)
async def test_a_malformed_document_url_is_refused_without_fetching(
    idp: Idp, documents: DocumentServer, shape: str
) -> None:
    page = await refusal(idp, shape.format(port=documents.port))
    assert "must be an https URL with a path, without fragment or user info" in page
    assert sum(documents.hits.values()) == 0
