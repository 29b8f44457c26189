"""What the IdP fetches a client metadata document from, under the development setting that allows
loopback documents: port 443, or a loopback document server on its own port (nothing else on another
port); and how many fetches it runs at once, overall and per client id, against a real slow server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from supplychain.devcerts import write_dev_certificates
from tests.idp.documents import DocumentServer, document_server
from tests.idp.flows import Idp, authorize_params, pkce

OVERALL_CAP = 2
PORT_REFUSED = "the client_id URL may name no port but 443"
LOGIN_PAGE = "<title>Log in</title>"
FETCH_TIMEOUT = 5  # seconds: far longer than any refusal may take


@pytest.fixture
def dev_certs(idp_home: Path) -> dict[str, Path]:
    return write_dev_certificates()


@pytest.fixture
def idp_overrides(dev_certs: dict[str, Path]) -> dict[str, Any]:
    return {
        "cimd_allow_private": True,
        "cimd_ca_file": dev_certs["ca"],
        "cimd_timeout_seconds": FETCH_TIMEOUT,
        "cimd_max_fetches": OVERALL_CAP,
        "cimd_max_fetches_per_client": 1,
    }


@pytest.fixture
async def documents(dev_certs: dict[str, Path]) -> AsyncIterator[DocumentServer]:
    async with document_server(dev_certs["certificate"], dev_certs["key"]) as served:
        yield served


async def authorize(idp: Idp, client_id: str) -> httpx2.Response:
    """An anonymous browser's authorization request for `client_id` (a login page when the document is good)."""
    _, challenge = pkce()
    async with httpx2.AsyncClient(base_url=idp.settings.issuer, timeout=FETCH_TIMEOUT * 2) as browser:
        return await browser.get("/authorize", params=authorize_params(client_id, challenge))


async def until_fetched(documents: DocumentServer, *names: str) -> None:
    """Wait until the IdP's fetch of each named document reached the server (and is held there)."""
    with anyio.fail_after(FETCH_TIMEOUT):
        while any(documents.hits[name] == 0 for name in names):  # noqa: ASYNC110 (a counter, not an event)
            await anyio.sleep(0.01)


def assert_busy_page(response: httpx2.Response, reason: str, started: float) -> None:
    assert time.monotonic() - started < 1, "a fetch over the cap must be refused at once, not queued"
    assert response.status_code == 503 and "location" not in response.headers
    assert response.headers["retry-after"] == "1"
    assert "<h1>temporarily_unavailable</h1>" in response.text
    assert f"The client cannot be checked now: {reason}." in response.text


async def test_a_loopback_document_server_on_its_own_port_is_fetched(idp: Idp, documents: DocumentServer) -> None:
    for host in ("127.0.0.1", "localhost"):
        response = await authorize(idp, documents.url("good", host=host))
        assert response.status_code == 200 and LOGIN_PAGE in response.text, response.text


async def test_another_port_on_a_non_loopback_address_is_refused_without_connecting(
    idp: Idp, documents: DocumentServer
) -> None:
    """0.0.0.0 is not loopback, yet Linux connects it to this host: without the port rule the IdP would."""
    response = await authorize(idp, documents.url("good", host="0.0.0.0"))  # noqa: S104 (an address under test)
    assert response.status_code == 400 and "location" not in response.headers
    assert "invalid_client" in response.text and PORT_REFUSED in response.text
    assert sum(documents.hits.values()) == 0


async def test_a_second_fetch_of_the_same_client_id_is_refused_at_once(idp: Idp, documents: DocumentServer) -> None:
    client_id = documents.url("slow-one")
    first: list[httpx2.Response] = []

    async def first_browser() -> None:
        first.append(await authorize(idp, client_id))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(first_browser)
        await until_fetched(documents, "slow-one")
        started = time.monotonic()
        second = await authorize(idp, client_id)
        assert_busy_page(second, "this client&#x27;s metadata document is already being fetched", started)
        other = await authorize(idp, documents.url("good"))  # another client: the overall cap is not reached
        assert other.status_code == 200 and LOGIN_PAGE in other.text
        documents.release.set()
    assert first[0].status_code == 200 and LOGIN_PAGE in first[0].text  # the held fetch finished, and counts
    assert documents.hits["slow-one"] == 1  # the refused request never reached the document server


async def test_fetches_over_the_overall_cap_are_refused_at_once_then_served_again(
    idp: Idp, documents: DocumentServer
) -> None:
    held = [f"slow-{index}" for index in range(OVERALL_CAP)]
    answers: list[httpx2.Response] = []

    async def held_browser(name: str) -> None:
        answers.append(await authorize(idp, documents.url(name)))

    async with anyio.create_task_group() as tasks:
        for name in held:
            tasks.start_soon(held_browser, name)
        await until_fetched(documents, *held)
        started = time.monotonic()
        refused = await authorize(idp, documents.url("good"))
        assert_busy_page(refused, "too many client metadata documents are being fetched right now", started)
        token = await idp.http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "x", "code_verifier": "y" * 43,
                  "client_id": documents.url("good"), "redirect_uri": "http://127.0.0.1:33418/callback"},
        )  # fmt: skip
        assert token.status_code == 503 and token.headers["retry-after"] == "1"
        assert token.json() == {
            "error": "temporarily_unavailable",
            "error_description": "the client cannot be checked now: too many client metadata documents are "
            "being fetched right now",
        }
        assert documents.hits["good"] == 0
        documents.release.set()
    assert [answer.status_code for answer in answers] == [200] * OVERALL_CAP
    again = await authorize(idp, documents.url("good"))  # the slots came back; the refusal was not cached
    assert again.status_code == 200 and LOGIN_PAGE in again.text
    assert documents.hits["good"] == 1
