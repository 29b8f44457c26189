"""Phase 1: a stdio server's pending approval is decided on the pages `supplychain approvals serve` runs.

The stdio server (here in memory, as fred) records the approval with the URL of its pages on loopback;
the standalone pages app (the command's app, served by uvicorn on that port) signs priya in at the dev
IdP and runs the decision with the server's own database credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from securemcp.http.standalone_pages import standalone_app

from servers.payments.server import PaymentsSettings
from supplychain.servers import approval_executors, load_settings, server_for
from tests.helpers import identity
from tests.http.stack import Served, loopback_socket, serve, start_idp
from tests.pages.browser import chromium, decide, new_page, open_signed_in
from tests.pages.requests import payment_row
from tests.payments.builders import ACME_PENDING

pytestmark = [pytest.mark.slow, pytest.mark.chromium]


@pytest.fixture
def phase1_pages(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[tuple[int, str]]:
    """The payments pages served alone on a free loopback port; (port, issuer)."""
    idp = start_idp(supplychain_home / "phase1-tests" / "idp-keys", {})
    sock = loopback_socket()
    port = sock.getsockname()[1]
    settings = load_settings("payments", port=port, issuer_url=idp.issuer)
    pages: Served = serve(standalone_app(settings, approval_executors(settings)), sock, label="pages")
    try:
        yield port, idp.issuer
    finally:
        pages.stop()
        idp.served.stop()


async def test_a_stdio_servers_four_eyes_release_is_approved_on_the_standalone_pages(
    phase1_pages: tuple[int, str], seeded: None, admin_url: str
) -> None:
    port, issuer = phase1_pages
    settings = PaymentsSettings(port=port, issuer_url=issuer)
    stdio_server = server_for(settings, local_identity=identity("fred@acme"))
    async with Client(stdio_server) as fred:
        result = await fred.call_tool("release_payment", {"payment_id": ACME_PENDING})
        status = result.structured_content
        assert status is not None and status["status"] == "pending"
        assert status["url"] == f"http://127.0.0.1:{port}/approvals/{status['approval_id']}?tenant=acme"
        async with chromium() as browser:
            _, page, _ = await new_page(browser)
            await open_signed_in(page, status["url"], "priya@acme")
            await decide(page, "approve")
            assert "approved and executed by priya@acme" in await page.inner_text("main")
        outcome = await fred.call_tool("get_approval", {"approval_id": status["approval_id"]})
    assert outcome.structured_content is not None and outcome.structured_content["status"] == "executed"
    assert await payment_row(admin_url, ACME_PENDING) == ("released", "fred@acme")
