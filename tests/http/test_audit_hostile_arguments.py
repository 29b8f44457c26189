"""Over real HTTP, arguments the JSON parser accepts but Postgres `jsonb` refuses still leave exactly one
audit record (they used to leave only a log line and the answer "could not be recorded")."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from securemcp.audit.unreadable import UNREADABLE_DETAIL

from tests.helpers import admin_rows, verify_audit
from tests.http.rpc import ACCEPT, LEGACY, bearer, initialize, modern_request
from tests.http.stack import Stack
from tests.http.tokens import mint

pytestmark = pytest.mark.usefixtures("seeded")


def raw_call(arguments_json: str) -> tuple[bytes, dict[str, str]]:
    """A 2026-07-28 get_stock_level call whose arguments are exactly `arguments_json` (NaN is no JSON for dumps)."""
    request = modern_request("tools/call", {"name": "get_stock_level", "arguments": {"@": 0}}, name="get_stock_level")
    body = json.dumps(request["json"]).replace('{"@": 0}', arguments_json)
    return body.encode(), {**request["headers"], "Content-Type": "application/json"}


def legacy_call(session: str, arguments_json: str) -> tuple[bytes, dict[str, str]]:
    """A get_stock_level call inside a 2025-11-25 session, whose arguments are exactly `arguments_json`."""
    body = '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_stock_level", "arguments": '
    headers = {"Accept": ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY}
    return (body + arguments_json + "}}").encode(), {**headers, "Content-Type": "application/json"}


async def post_as_alice(stack: Stack, admin_url: str, arguments_json: str, *, era: str = "modern") -> tuple[int, Any]:
    """POST alice's get_stock_level call with these raw arguments; the status, the answer and the records it left."""
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    [(start,)] = await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log")
    async with httpx2.AsyncClient(timeout=30) as http:
        if era == "modern":
            body, headers = raw_call(arguments_json)
        else:
            opened = await initialize(http, inventory.url, token)
            assert opened.status_code == 200
            body, headers = legacy_call(opened.headers["mcp-session-id"], arguments_json)
        response = await http.post(inventory.url, content=body, headers={**headers, **bearer(token)})
    rows = await admin_rows(
        admin_url,
        "SELECT tool, user_id, outcome, detail, arguments FROM inventory.audit_log WHERE seq > :s",
        s=start,
    )
    return response, rows


@pytest.mark.parametrize(("arguments_json", "stored"), [
    ('{"sku": NaN, "warehouse": "AMS-1"}', {"sku": "NaN", "warehouse": "AMS-1"}),
    ('{"sku": -Infinity, "warehouse": Infinity}', {"sku": "-Infinity", "warehouse": "Infinity"}),
    ('{"sku": "\\ud800", "warehouse": "AMS-1"}', {"sku": "\\ud800", "warehouse": "AMS-1"}),
])  # fmt: skip
async def test_a_nan_argument_leaves_exactly_one_record(
    stack: Stack, admin_url: str, arguments_json: str, stored: dict[str, str]
) -> None:
    response, rows = await post_as_alice(stack, admin_url, arguments_json)
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is True
    assert "could not be recorded" not in result["content"][0]["text"]
    assert "Input should be a valid string" in result["content"][0]["text"]
    assert [(tool, user, outcome, arguments) for tool, user, outcome, _detail, arguments in rows] == [
        ("get_stock_level", "alice@acme", "error", stored)
    ]
    _checked, broken = await verify_audit(admin_url, "inventory")
    assert broken == []


def nested(levels: int) -> str:
    return '{"sku": ' + "[" * levels + '"x"' + "]" * levels + ', "warehouse": "AMS-1"}'


@pytest.mark.parametrize(("era", "arguments_json", "stored_sku"), [
    ("modern", nested(10_000), "nested"),
    ("modern", '{"sku": 1' + "0" * 5_000 + ', "warehouse": "AMS-1"}', "[integer of 5001 digits]"),
    # The SDK's handshake-era path parses with pydantic_core, which stops at about 200 levels: json.loads
    # reads this body, so judging it with json.loads left no record at all.
    ("legacy", nested(300), "nested"),
    ("legacy", '{"sku": "\\ud800", "warehouse": "AMS-1"}', "\\ud800"),
])  # fmt: skip
async def test_a_call_the_protocol_layer_cannot_parse_still_leaves_one_record(
    stack: Stack, admin_url: str, era: str, arguments_json: str, stored_sku: str
) -> None:
    response, rows = await post_as_alice(stack, admin_url, arguments_json, era=era)
    assert response.status_code == 400
    error = response.json()["error"]
    if era == "modern":
        assert error == {"code": -32700, "message": "Parse error"}
    else:
        assert error["code"] == -32700 and error["message"].startswith("Parse error: ")
    [(tool, user, outcome, detail, arguments)] = rows
    assert (tool, user, outcome, arguments["warehouse"]) == ("get_stock_level", "alice@acme", "refused", "AMS-1")
    assert detail == UNREADABLE_DETAIL
    if stored_sku == "nested":
        levels, node = 0, arguments["sku"]
        while isinstance(node, list):
            levels, node = levels + 1, node[0]
        assert levels == 31 and node.startswith("[nested deeper than 32 levels, sha256 ")
    else:
        assert arguments["sku"] == stored_sku
    _checked, broken = await verify_audit(admin_url, "inventory")
    assert broken == []
