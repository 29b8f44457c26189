"""No token, password or DSN in any log record or any HTTP answer, at DEBUG, through a run with errors.

The run covers the paths most likely to echo what they were given: a login at the IdP, every hostile
token, a token in the query string, a step-up refusal, an oversized body, someone else's session id,
tool errors (bad arguments, no such record, unknown tool), a revoked token, and successful calls.
"""

from __future__ import annotations

import logging

import httpx2
import pytest
from sqlalchemy.engine import make_url

from fixtures.tenants import DEV_PASSWORDS
from tests.helpers import Human
from tests.http.clients import mcp_client
from tests.http.rpc import bearer, call_tool, initialize, list_tools, session_call
from tests.http.stack import Stack
from tests.http.test_hostile_tokens import HOSTILE
from tests.http.tokens import flow_token, mint

pytestmark = pytest.mark.usefixtures("seeded")


def secrets_of_the_database(admin_url: str, server_urls: dict[str, str]) -> set[str]:
    """Every DSN and every password in them (admin and each server's own)."""
    found = {admin_url, *server_urls.values()}
    assert all(make_url(dsn).password for dsn in server_urls.values()), "each server has a password to protect"
    for dsn in list(found):
        url = make_url(dsn)
        if url.password:
            found |= {url.password, url.render_as_string(hide_password=False)}
    return found


def own_client(record: logging.LogRecord) -> bool:
    """A record of this test's own HTTP client (it logs the URLs it requests, `?access_token=` included)."""
    return record.threadName == "MainThread" and record.name.split(".")[0] in ("httpx2", "httpcore2")


def text_of(record: logging.LogRecord) -> str:
    """Everything a handler could write for `record`: message, arguments, exception and stack."""
    formatted = logging.Formatter("%(message)s").format(record)
    return "\n".join([formatted, repr(record.args), record.exc_text or "", record.stack_info or ""])


async def test_no_secret_reaches_a_log_record_or_an_http_answer(
    stack: Stack, admin_url: str, server_urls: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger of the whole stack, uvicorn's included
    inventory, idp = stack["inventory"], stack.idp
    answers: list[httpx2.Response] = []
    tokens: set[str] = set()

    flow = await flow_token(idp, user="alice@acme", server="inventory")
    tokens |= {flow["access_token"], flow["refresh_token"]}
    alice, bob = flow["access_token"], mint(idp, user="bob@globex", server="inventory")
    reader = mint(idp, user="ana@acme", server="inventory")
    tokens |= {bob, reader}
    async with httpx2.AsyncClient(timeout=10) as http:
        for make in HOSTILE.values():
            hostile = make(idp)
            if hostile:
                tokens.add(hostile)
            answers.append(await call_tool(http, inventory.url, hostile, "create_reorder", {"sku": "BOLT-M8"}))
        answers.append(await http.get(inventory.url, params={"access_token": alice}))
        answers.append(await call_tool(http, inventory.url, reader, "create_reorder", {"sku": "BOLT-M8"}))
        answers.append(await call_tool(http, inventory.url, alice, "list_warehouses", {"x": "x" * (1024 * 1024)}))
        answers.append(
            await call_tool(http, inventory.url, alice, "get_stock_level", {"sku": "NOPE", "warehouse": "X-1"})
        )
        answers.append(await call_tool(http, inventory.url, alice, "get_stock_level", {"sku": "'; DROP TABLE x; --"}))
        answers.append(await call_tool(http, inventory.url, alice, "no_such_tool", {}))
        answers.append(await list_tools(http, inventory.url, alice, headers={"Origin": "http://evil.example"}))
        opened = await initialize(http, inventory.url, alice)
        answers.append(opened)
        answers.append(
            await session_call(http, inventory.url, bob, opened.headers["mcp-session-id"], "list_warehouses", {})
        )
        revoke = {"token": flow["refresh_token"], "token_type_hint": "refresh_token", "client_id": flow["client_id"]}
        answers.append(await http.post(f"{idp.issuer}/revoke", data=revoke))
        answers.append(
            await http.post(
                f"{idp.issuer}/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": flow["refresh_token"],
                    "client_id": flow["client_id"],
                },
            )
        )
        answers.append(await http.post(inventory.url, json={}, headers=bearer(alice)))
    async with mcp_client(inventory.url, bob, human=Human(action="decline")) as client:
        await client.call_tool("create_reorder", {"sku": "BOLT-M8", "warehouse": "CHI-1", "quantity": 1})
        await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"})

    secrets = tokens | secrets_of_the_database(admin_url, server_urls) | {DEV_PASSWORDS["alice@acme"]}
    # A token's signature is the part no one else can make: not even that may appear on its own.
    secrets |= {token.rsplit(".", 1)[-1] for token in tokens if token.count(".") == 2 and not token.endswith(".")}
    records = [record for record in caplog.records if not own_client(record)]
    assert len(records) > 50, "the stack logged almost nothing: is the capture working?"
    for record in records:
        leaked = [secret[:12] + "..." for secret in secrets if secret in text_of(record)]
        assert not leaked, (record.name, leaked, record.getMessage()[:300])
    for answer in answers:
        assert not [secret for secret in secrets if secret in answer.text], (answer.status_code, answer.text[:300])
        assert "Traceback" not in answer.text and 'File "' not in answer.text


async def test_the_dev_idp_logs_no_issued_token_at_debug(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    flow = await flow_token(stack.idp, user="alice@acme", server="inventory")
    for record in caplog.records:
        text = text_of(record)
        assert flow["access_token"] not in text and flow["refresh_token"] not in text, record.name
