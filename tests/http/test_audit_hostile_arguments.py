"""Over real HTTP, arguments the JSON parser accepts but Postgres `jsonb` refuses still leave exactly one
audit record (they used to leave only a log line and the answer "could not be recorded")."""

from __future__ import annotations

import json

import httpx2
import pytest

from tests.helpers import admin_rows, verify_audit
from tests.http.rpc import bearer, modern_request
from tests.http.stack import Stack
from tests.http.tokens import mint

pytestmark = pytest.mark.usefixtures("seeded")


def raw_call(arguments_json: str) -> tuple[bytes, dict[str, str]]:
    """A 2026-07-28 get_stock_level call whose arguments are exactly `arguments_json` (NaN is no JSON for dumps)."""
    request = modern_request("tools/call", {"name": "get_stock_level", "arguments": {"@": 0}}, name="get_stock_level")
    body = json.dumps(request["json"]).replace('{"@": 0}', arguments_json)
    return body.encode(), {**request["headers"], "Content-Type": "application/json"}


@pytest.mark.parametrize(("arguments_json", "stored"), [
    ('{"sku": NaN, "warehouse": "AMS-1"}', {"sku": "NaN", "warehouse": "AMS-1"}),
    ('{"sku": -Infinity, "warehouse": Infinity}', {"sku": "-Infinity", "warehouse": "Infinity"}),
    ('{"sku": "\\ud800", "warehouse": "AMS-1"}', {"sku": "\\ud800", "warehouse": "AMS-1"}),
])  # fmt: skip
async def test_a_nan_argument_leaves_exactly_one_record(
    stack: Stack, admin_url: str, arguments_json: str, stored: dict[str, str]
) -> None:
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    [(start,)] = await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log")
    body, headers = raw_call(arguments_json)
    async with httpx2.AsyncClient(timeout=30) as http:
        response = await http.post(inventory.url, content=body, headers={**headers, **bearer(token)})
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is True
    assert "could not be recorded" not in result["content"][0]["text"]
    assert "Input should be a valid string" in result["content"][0]["text"]
    rows = await admin_rows(
        admin_url, "SELECT tool, user_id, outcome, arguments FROM inventory.audit_log WHERE seq > :s", s=start
    )
    assert rows == [("get_stock_level", "alice@acme", "error", stored)]
    _checked, broken = await verify_audit(admin_url, "inventory")
    assert broken == []


@pytest.mark.parametrize(("arguments_json", "stored_sku"), [
    ('{"sku": ' + "[" * 10_000 + '"x"' + "]" * 10_000 + ', "warehouse": "AMS-1"}', "nested"),
    ('{"sku": 1' + "0" * 5_000 + ', "warehouse": "AMS-1"}', "[integer of 5001 digits]"),
])  # fmt: skip
async def test_a_call_the_protocol_layer_cannot_parse_still_leaves_one_record(
    stack: Stack, admin_url: str, arguments_json: str, stored_sku: str
) -> None:
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    [(start,)] = await admin_rows(admin_url, "SELECT coalesce(max(seq), 0) FROM inventory.audit_log")
    body, headers = raw_call(arguments_json)
    async with httpx2.AsyncClient(timeout=30) as http:
        response = await http.post(inventory.url, content=body, headers={**headers, **bearer(token)})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": -32700, "message": "Parse error"}
    [(tool, user, outcome, detail, arguments)] = await admin_rows(
        admin_url,
        "SELECT tool, user_id, outcome, detail, arguments FROM inventory.audit_log WHERE seq > :s",
        s=start,
    )
    assert (tool, user, outcome, arguments["warehouse"]) == ("get_stock_level", "alice@acme", "refused", "AMS-1")
    assert detail == "the protocol layer could not parse this call (nesting too deep or a number too long)"
    if stored_sku == "nested":
        levels, node = 0, arguments["sku"]
        while isinstance(node, list):
            levels, node = levels + 1, node[0]
        assert levels == 31 and node.startswith("[nested deeper than 32 levels, sha256 ")
    else:
        assert arguments["sku"] == stored_sku
    _checked, broken = await verify_audit(admin_url, "inventory")
    assert broken == []
