"""Without the development setting, the IdP never fetches a client metadata document from a loopback,
private or link-local address, judged by the addresses the name resolves to (not by the name)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from idp.cimd import public_address
from supplychain.devcerts import write_dev_certificates
from tests.idp.documents import DocumentServer, document_server
from tests.idp.flows import Idp, authorize_params, pkce

REFUSED = "resolves to a loopback, private or link-local address"


@pytest.fixture
def dev_certs(idp_home: Path) -> dict[str, Path]:
    return write_dev_certificates()


@pytest.fixture
def idp_overrides(dev_certs: dict[str, Path]) -> dict[str, Any]:
    return {"cimd_ca_file": dev_certs["ca"]}  # trusts the server's certificate, but not its address


@pytest.fixture
async def documents(dev_certs: dict[str, Path]) -> AsyncIterator[DocumentServer]:
    async with document_server(dev_certs["certificate"], dev_certs["key"]) as served:
        yield served


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # an address, and a name that resolves to one
async def test_a_loopback_document_is_refused_without_connecting(
    idp: Idp, documents: DocumentServer, host: str
) -> None:
    _, challenge = pkce()
    params = authorize_params(documents.url("good", host=host), challenge)
    response = await idp.http.get("/authorize", params=params)
    assert response.status_code == 400 and "location" not in response.headers
    assert "invalid_client" in response.text and REFUSED in response.text
    assert sum(documents.hits.values()) == 0  # refused before any connection


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.10",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address under test, not a bind)
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "fe80::1%eth0",
    ],
)
def test_non_public_addresses_are_recognised(address: str) -> None:
    assert not public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_recognised(address: str) -> None:
    assert public_address(address)
