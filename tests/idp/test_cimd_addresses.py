"""Without the development setting, the IdP never fetches a client metadata document from a loopback,
private or link-local address, judged by the addresses the name resolves to (not by the name), and by
the IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from idp.public_addresses import public_address
from supplychain.devcerts import write_dev_certificates
from tests.idp.documents import DocumentServer, document_server
from tests.idp.flows import Idp, authorize_params, pkce

REFUSED = "resolves to a loopback, private or link-local address"
PUBLIC_V4 = ("93.184.216.34", "1.1.1.1")
NOT_PUBLIC_V4 = ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.10", "169.254.169.254", "100.64.0.1", "0.0.0.0")  # noqa: S104


def teredo(server: str, client: str) -> str:
    """A Teredo address (RFC 4380): 2001:0::/32, the server, flags and port (zero), the client inverted."""
    server_bits, client_bits = int(IPv4Address(server)), ~int(IPv4Address(client)) & 0xFFFFFFFF
    address = IPv6Address((0x2001_0000 << 96) | (server_bits << 64) | client_bits)
    assert address.teredo == (IPv4Address(server), IPv4Address(client))  # as Python's ipaddress reads it
    return str(address)


# Each IPv6 form that carries an IPv4 address, written around that address.
WRAPPERS = {
    "ipv4_mapped": lambda v4: f"::ffff:{v4}",
    "ipv4_compatible": lambda v4: str(IPv6Address(int(IPv4Address(v4)))),  # ::7f00:1 for 127.0.0.1
    "nat64_well_known": lambda v4: str(IPv6Address(int(IPv6Address("64:ff9b::")) | int(IPv4Address(v4)))),
    "six_to_four": lambda v4: str(IPv6Address((0x2002 << 112) | (int(IPv4Address(v4)) << 80) | 1)),
    "teredo_server": lambda v4: teredo(v4, PUBLIC_V4[1]),
    "teredo_client": lambda v4: teredo(PUBLIC_V4[1], v4),
}


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
async def test_a_loopback_document_is_refused_without_connecting(idp: Idp, host: str) -> None:
    """On port 443, where nothing listens here: a connection attempt would answer ConnectError instead."""
    _, challenge = pkce()
    params = authorize_params(f"https://{host}/clients/good.json", challenge)
    response = await idp.http.get("/authorize", params=params)
    assert response.status_code == 400 and "location" not in response.headers
    assert "invalid_client" in response.text and REFUSED in response.text


async def test_a_loopback_document_on_another_port_is_refused_for_its_port_first(
    idp: Idp, documents: DocumentServer
) -> None:
    _, challenge = pkce()
    response = await idp.http.get("/authorize", params=authorize_params(documents.url("good"), challenge))
    assert response.status_code == 400 and "location" not in response.headers
    assert "invalid_client" in response.text and "the client_id URL may name no port but 443" in response.text
    assert sum(documents.hits.values()) == 0


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


@pytest.mark.parametrize("inner", NOT_PUBLIC_V4)
@pytest.mark.parametrize("form", list(WRAPPERS))
def test_an_ipv6_form_carrying_a_non_public_ipv4_is_refused(form: str, inner: str) -> None:
    address = WRAPPERS[form](inner)
    assert not public_address(address), address


@pytest.mark.parametrize("inner", PUBLIC_V4)
@pytest.mark.parametrize("form", list(WRAPPERS))
def test_an_ipv6_form_carrying_a_public_ipv4_is_judged_by_it(form: str, inner: str) -> None:
    address = WRAPPERS[form](inner)
    assert public_address(address), address


@pytest.mark.parametrize("inner", [*PUBLIC_V4, *NOT_PUBLIC_V4])
def test_the_local_use_nat64_prefix_is_refused_whatever_it_carries(inner: str) -> None:
    """64:ff9b:1::/48 (RFC 8215): the IPv4 address's place depends on the local network's prefix length."""
    assert not public_address(str(IPv6Address(int(IPv6Address("64:ff9b:1::")) | int(IPv4Address(inner)))))


@pytest.mark.parametrize(
    "address",
    [
        "fec0::1",  # site-local (deprecated, still routed inside some networks)
        "fec0:0:0:1::7f00:1",
        "2001:db8::1",  # documentation
        "3fff::1",  # documentation (RFC 9637)
        "100::1",  # discard-only
        "5f00::1",  # SRv6 segment identifiers
        "ff02::1",  # multicast
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
        "2001:2::1",  # IETF protocol assignments (benchmarking)
    ],
)
def test_non_global_ipv6_ranges_are_refused(address: str) -> None:
    assert not public_address(address)


@pytest.mark.parametrize("literal", ["[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "[::7f00:1]", "[fec0::1]"])
async def test_a_wrapped_loopback_literal_is_refused_without_connecting(idp: Idp, literal: str) -> None:
    _, challenge = pkce()
    response = await idp.http.get("/authorize", params=authorize_params(f"https://{literal}/c.json", challenge))
    assert response.status_code == 400 and "location" not in response.headers
    assert "invalid_client" in response.text and REFUSED in response.text
