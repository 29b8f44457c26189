"""Every refused `tools/call` leaves a record, and a flood of refusals costs a bounded number of them.

Refused before any tool runs, after the token was verified: the rate limit (429), a body over the
limit (413), a `Mcp-Name` header that disagrees with the body (-32020), a missing `params._meta`
(-32602). Each is recorded in the tenant's chain with the tool `(transport)`, aggregated per tenant,
reason and minute: the first at once, the rest as one summary when the minute closes or the server
stops (`securemcp.http.refusals`). The chain still verifies afterwards.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx2

from tests.helpers import admin_rows, snapshot, verify_audit
from tests.http.conftest import ExtraServer
from tests.http.rpc import bearer, call_tool, modern_request
from tests.http.stack import Stack
from tests.http.tokens import claims_of, mint

RECORD = (
    "SELECT tool, user_id, outcome, arguments, detail, token_id FROM inventory.audit_log WHERE seq > :s ORDER BY seq"
)


async def last_seq(admin_url: str) -> int:
    return int((await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log"))[0][0])


async def records_since(admin_url: str, seq: int, token: str | None = None) -> list[tuple[Any, ...]]:
    """The records after `seq`; with `token`, only that token's (other tests' servers write meanwhile)."""
    rows = await admin_rows(admin_url, RECORD, s=seq)
    return rows if token is None else [row for row in rows if row[5] == claims_of(token)["jti"]]


def refusal(rows: list[tuple[Any, ...]]) -> list[tuple[str, int, str]]:
    """(reason, count, outcome) of each transport-refusal record."""
    return [(row[3]["refusal"], row[3]["count"], row[2]) for row in rows if row[0] == "(transport)"]


async def away_from_a_minute_boundary(seconds: float) -> None:
    """Wait, if need be, until `seconds` fit before the wall-clock minute ends (aggregation is per minute)."""
    left = 60 - time.time() % 60
    if left < seconds:
        await anyio.sleep(left + 0.5)


async def test_six_calls_at_three_a_minute_are_all_accounted_for(
    stack: Stack, extra_server: ExtraServer, admin_url: str
) -> None:
    start = await last_seq(admin_url)
    await away_from_a_minute_boundary(20)
    with extra_server("inventory", rate_limit="3/minute") as inventory:
        token = mint(stack.idp, user="alice@acme", server="inventory", audience=inventory.url)
        async with httpx2.AsyncClient(timeout=10) as http:
            answers = [await call_tool(http, inventory.url, token, "list_warehouses") for _ in range(6)]
        during = await records_since(admin_url, start, token)
    after = await records_since(admin_url, start, token)  # the server stopped: the open minute's summary is written
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429, 429]
    assert [(row[0], row[2]) for row in during] == [("list_warehouses", "ok")] * 3 + [("(transport)", "refused")]
    assert refusal(during) == [("rate_limited", 1, "refused")]  # the first 429 of the minute, at once
    assert refusal(after) == [("rate_limited", 1, "refused"), ("rate_limited", 2, "refused")]
    assert after[:4] == during
    summary = after[4]
    assert summary[1] == "alice@acme" and summary[3]["users"] == ["alice@acme"]
    assert summary[4].startswith("transport refusal rate_limited x2: more refusals in the minute from ")
    assert during[3][4] == "transport refusal rate_limited x1: tenant request limit 3 per 1 minute reached"
    assert during[3][5] == after[0][5]  # the verified token's id, as on the accepted calls
    assert sum(count for _, count, _ in refusal(after)) + 3 == len(answers)
    assert (await verify_audit(admin_url, "inventory"))[1] == []


async def test_a_flood_of_a_thousand_429s_leaves_at_most_two_records(
    stack: Stack, extra_server: ExtraServer, admin_url: str
) -> None:
    start = await last_seq(admin_url)
    await away_from_a_minute_boundary(40)
    with extra_server("inventory", rate_limit="1/minute") as inventory:
        token = mint(stack.idp, user="bob@globex", server="inventory", audience=inventory.url)
        statuses: list[int] = []
        async with httpx2.AsyncClient(timeout=10) as http:
            statuses.append((await call_tool(http, inventory.url, token, "list_warehouses")).status_code)

            async def flood() -> None:
                for _ in range(100):
                    statuses.append((await call_tool(http, inventory.url, token, "list_warehouses")).status_code)

            async with anyio.create_task_group() as floods:
                for _ in range(10):
                    floods.start_soon(flood)
    rows = await records_since(admin_url, start, token)  # only this token's: other servers write meanwhile
    assert statuses[0] == 200 and statuses[1:] == [429] * 1000
    assert [(row[0], row[2]) for row in rows] == [("list_warehouses", "ok"), ("(transport)", "refused"),
                                                  ("(transport)", "refused")]  # fmt: skip
    assert refusal(rows) == [("rate_limited", 1, "refused"), ("rate_limited", 999, "refused")]
    assert (await verify_audit(admin_url, "inventory"))[1] == []


async def test_an_oversized_body_is_recorded(stack: Stack, extra_server: ExtraServer, admin_url: str) -> None:
    start = await last_seq(admin_url)
    before = await snapshot(admin_url, "inventory")
    await away_from_a_minute_boundary(20)
    # A server of its own: on the session's server another test's 413 for acme in the same minute
    # would already have taken the minute's first record, and this one would wait for the summary.
    with extra_server("inventory") as inventory:
        token = mint(stack.idp, user="alice@acme", server="inventory", audience=inventory.url)
        async with httpx2.AsyncClient(timeout=10) as http:
            note = "x" * inventory.settings.max_body_bytes
            response = await call_tool(http, inventory.url, token, "list_warehouses", {"note": note})
        assert (response.status_code, response.json()) == (413, {"error": "request body too large"})
        rows = await records_since(admin_url, start, token)
    assert [(row[0], row[1], row[2], row[3]["refusal"], row[3]["count"]) for row in rows] == [
        ("(transport)", "alice@acme", "refused", "body_too_large", 1)
    ]
    assert rows[0][4] == "transport refusal body_too_large x1: request body over 1048576 bytes"
    assert await snapshot(admin_url, "inventory") == before  # the record aside, nothing changed


async def sdk_refused(
    stack: Stack, extra_server: ExtraServer, admin_url: str, *, mcp_name: str, meta: bool
) -> tuple[httpx2.Response, list[Any]]:
    """One refused call on a server of its own (the minute's first refusal of its kind is recorded at once)."""
    request = modern_request("tools/call", {"name": "list_warehouses", "arguments": {}}, name=mcp_name)
    if not meta:
        del request["json"]["params"]["_meta"]
    start = await last_seq(admin_url)
    await away_from_a_minute_boundary(20)
    with extra_server("inventory") as inventory:
        token = mint(stack.idp, user="ana@acme", server="inventory", audience=inventory.url)
        async with httpx2.AsyncClient(timeout=10) as http:
            headers = {**request["headers"], **bearer(token)}
            response = await http.post(inventory.url, json=request["json"], headers=headers)
        return response, await records_since(admin_url, start, token)


async def test_a_name_header_that_disagrees_with_the_body_is_recorded(
    stack: Stack, extra_server: ExtraServer, admin_url: str
) -> None:
    response, rows = await sdk_refused(stack, extra_server, admin_url, mcp_name="create_reorder", meta=True)
    message = "mcp-name header does not match the request body's 'name' parameter"
    assert response.status_code == 400
    assert response.json()["error"] == {"code": -32020, "message": message}
    assert [(row[0], row[1], row[2], row[3]["refusal"], row[3]["count"], row[4]) for row in rows] == [
        ("(transport)", "ana@acme", "refused", "header_mismatch", 1, f"transport refusal header_mismatch x1: {message}")
    ]


async def test_a_call_without_its_meta_envelope_is_recorded(
    stack: Stack, extra_server: ExtraServer, admin_url: str
) -> None:
    response, rows = await sdk_refused(stack, extra_server, admin_url, mcp_name="list_warehouses", meta=False)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32602 and error["message"].startswith("params._meta must be an object")
    assert [(row[0], row[1], row[2], row[3]["refusal"], row[3]["count"]) for row in rows] == [
        ("(transport)", "ana@acme", "refused", "invalid_params", 1)
    ]
    assert rows[0][4] == f"transport refusal invalid_params x1: {error['message']}"


async def test_a_garbled_body_naming_tools_call_is_recorded_as_a_parse_error(
    stack: Stack, extra_server: ExtraServer, admin_url: str
) -> None:
    # Not JSON at all, so `securemcp.audit.unreadable` has no call to record: the transport refusal must.
    start = await last_seq(admin_url)
    await away_from_a_minute_boundary(20)
    with extra_server("inventory") as inventory:
        token = mint(stack.idp, user="ana@acme", server="inventory", audience=inventory.url)
        request = modern_request("tools/call", {"name": "list_warehouses", "arguments": {}}, name="list_warehouses")
        headers = {**request["headers"], **bearer(token), "Content-Type": "application/json"}
        async with httpx2.AsyncClient(timeout=10) as http:
            response = await http.post(inventory.url, content=b'{"method": "tools/call", "params": {', headers=headers)
        rows = await records_since(admin_url, start, token)
    assert response.status_code == 400 and '"code":-32700' in response.text.replace(" ", ""), response.text
    assert [(row[0], row[1], row[2], row[3]["refusal"], row[3]["count"]) for row in rows] == [
        ("(transport)", "ana@acme", "refused", "jsonrpc_-32700", 1)
    ]
