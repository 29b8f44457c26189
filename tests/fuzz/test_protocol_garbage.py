"""Malformed protocol traffic over real HTTP: the answer is a 4xx or a JSON-RPC error, never a 5xx, and
the server keeps serving (a valid call succeeds after every round).

Each request carries a valid token, so it reaches the MCP layer rather than stopping at the 401; the
hand-picked cases cover the named classes (bad JSON, wrong types, huge and duplicate ids, batches,
unknown methods, wrong `Mcp-Method`/`Mcp-Name`, truncated bodies, wrong content types) and Hypothesis
adds random bytes and random JSON documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.helpers import snapshot
from tests.http.rpc import bearer, call_tool, modern_request, result_of
from tests.http.running import running_stack
from tests.http.stack import Server, Stack
from tests.http.tokens import mint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("idp-keys"), ("inventory",), rate_limit="100000/minute") as running:
        yield running


def call(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return modern_request("tools/call", {"name": name, "arguments": arguments or {}}, name=name)


VALID = call("list_warehouses")
BODY = json.dumps(VALID["json"]).encode()
HEADERS = {**VALID["headers"], "Content-Type": "application/json"}
REORDER = call("create_reorder", {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 1})


def with_body(**changes: Any) -> bytes:
    return json.dumps({**VALID["json"], **changes}).encode()


# (label, body bytes, header changes): each must be a 4xx or a JSON-RPC error.
CASES: list[tuple[str, bytes, dict[str, str]]] = [
    ("empty body", b"", {}),
    ("not json", b"not json at all", {}),
    ("open brace", b"{", {}),
    ("invalid utf-8", b"\xff\xfe\xfd", {}),
    ("json null", b"null", {}),
    ("json number", b"12345", {}),
    ("json string", b'"tools/call"', {}),
    ("nested deep", b"[" * 5000 + b"]" * 5000, {}),
    ("jsonrpc 1.0", with_body(jsonrpc="1.0"), {}),
    ("no jsonrpc", json.dumps({k: v for k, v in VALID["json"].items() if k != "jsonrpc"}).encode(), {}),
    ("method is a number", with_body(method=5), {}),
    ("params is a string", with_body(params="x"), {}),
    ("params is a list", with_body(params=[1, 2]), {}),
    (
        "arguments is a list",
        json.dumps({**VALID["json"], "params": {**VALID["json"]["params"], "arguments": [1]}}).encode(),
        {},
    ),
    ("name is a number", json.dumps({**VALID["json"], "params": {**VALID["json"]["params"], "name": 7}}).encode(), {}),
    ("id is an object", with_body(id={"a": 1}), {}),
    ("id is a list", with_body(id=[1]), {}),
    ("id is a float", with_body(id=1.5), {}),
    ("id is true", with_body(id=True), {}),
    ("id is huge", with_body(id=10**400), {}),
    ("id is a long string", with_body(id="i" * 200_000), {}),
    ("duplicate id key", BODY.replace(b'"id": 1', b'"id": 1, "id": "other"'), {}),
    ("duplicate method key", BODY.replace(b'"method": "tools/call"', b'"method": "tools/call", "method": "x"'), {}),
    ("batch of two same ids", json.dumps([VALID["json"], VALID["json"]]).encode(), {}),
    ("empty batch", b"[]", {}),
    ("batch of numbers", b"[1, 2, 3]", {}),
    ("unknown method", with_body(method="tools/destroy"), {"Mcp-Method": "tools/destroy"}),
    ("empty method", with_body(method=""), {"Mcp-Method": ""}),
    ("rpc internal method", with_body(method="rpc.discover"), {"Mcp-Method": "rpc.discover"}),
    ("Mcp-Method disagrees", BODY, {"Mcp-Method": "tools/list"}),
    ("Mcp-Method missing", BODY, {"Mcp-Method": ""}),
    ("Mcp-Name disagrees", json.dumps(REORDER["json"]).encode(), {"Mcp-Name": "list_warehouses"}),
    ("Mcp-Name unknown tool", BODY, {"Mcp-Name": "drop_everything"}),
    ("Mcp-Name control chars", BODY, {"Mcp-Name": "list_warehouses\tx"}),
    ("protocol version unknown", BODY, {"MCP-Protocol-Version": "1999-01-01"}),
    ("content type text/plain", BODY, {"Content-Type": "text/plain"}),
    ("content type form", BODY, {"Content-Type": "application/x-www-form-urlencoded"}),
    ("content type multipart", BODY, {"Content-Type": "multipart/form-data; boundary=x"}),
    ("accept html only", BODY, {"Accept": "text/html"}),
    ("no accept", BODY, {"Accept": ""}),
] + [(f"truncated at {cut}", BODY[:cut], {}) for cut in range(1, len(BODY), max(1, len(BODY) // 25))]


NAMED = {
    **dict.fromkeys(
        ["empty body", "not json", "open brace", "invalid utf-8", "json null", "json number", "json string",
         "nested deep", "jsonrpc 1.0", "no jsonrpc", "method is a number", "params is a string",
         "params is a list", "arguments is a list", "name is a number", "id is an object", "id is a list",
         "id is a float", "id is true", "duplicate method key", "batch of two same ids", "empty batch",
         "batch of numbers", "empty method", "Mcp-Method disagrees", "Mcp-Method missing", "Mcp-Name disagrees",
         "Mcp-Name unknown tool", "Mcp-Name control chars", "protocol version unknown", "content type text/plain",
         "content type form", "content type multipart"],
        400,
    ),
    "unknown method": 404, "rpc internal method": 404, "accept html only": 406,
    "id is huge": 200, "id is a long string": 200, "duplicate id key": 200, "no accept": 200,
}  # fmt: skip


def assert_clean_refusal(response: httpx2.Response, label: str) -> None:
    """A 4xx, or a 2xx whose body is a JSON-RPC message (for a request that was, after all, acceptable)."""
    assert response.status_code < 500, (label, response.status_code, response.text[:300])
    if response.status_code < 300 and response.content:
        text = response.text
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            text = [line[6:] for line in text.splitlines() if line.startswith("data: ")][-1]
        message = json.loads(text)
        messages = message if isinstance(message, list) else [message]
        assert all("error" in m or "result" in m for m in messages), (label, text[:300])


def still_serving(http: httpx2.Client, server: Server, token: str) -> None:
    response = http.post(server.url, content=BODY, headers={**HEADERS, **bearer(token)})
    assert result_of(response)["isError"] is False


def post(http: httpx2.Client, server: Server, token: str, body: bytes, changes: dict[str, str]) -> httpx2.Response:
    headers = {**HEADERS, **bearer(token), **changes}
    return http.post(server.url, content=body, headers={k: v for k, v in headers.items() if v != ""})


async def test_named_malformed_requests_are_refused_cleanly(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    before = await snapshot(admin_url, "inventory")

    def run() -> dict[str, int]:
        statuses: dict[str, int] = {}
        with httpx2.Client(timeout=10) as http:
            for label, body, changes in CASES:
                response = post(http, inventory, token, body, changes)
                assert_clean_refusal(response, label)
                statuses[label] = response.status_code
                still_serving(http, inventory, token)
        return statuses

    statuses = await anyio.to_thread.run_sync(run)
    # Each named case's exact answer. The write whose Mcp-Name claims a read must not have run (nothing
    # changed, no approval was possible); the four 200s are requests that were valid after all.
    assert {label: status for label, status in statuses.items() if not label.startswith("truncated")} == NAMED
    assert await snapshot(admin_url, "inventory") == before
    print({code: sum(1 for s in statuses.values() if s == code) for code in sorted(set(statuses.values()))})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
# Documents shaped like requests, with random parts: they get past the first checks more often.
REQUEST_LIKE = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.1", ""]) | JSON, "method": st.sampled_from(
        ["tools/call", "tools/list", "initialize", "ping", "resources/list", "x"]) | JSON},
    optional={"id": JSON, "params": JSON},
)  # fmt: skip


async def test_random_bytes_and_documents_are_refused_cleanly(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    before = await snapshot(admin_url, "inventory")
    bodies = (
        st.binary(max_size=300)
        | JSON.map(lambda d: json.dumps(d).encode())
        | REQUEST_LIKE.map(lambda d: json.dumps(d).encode())
    )
    methods = st.sampled_from(["tools/call", "tools/list", "initialize", "nonsense"])

    def run() -> None:
        with httpx2.Client(timeout=10) as http:

            @FUZZ
            @given(body=bodies, method=methods)
            def one(body: bytes, method: str) -> None:
                assert_clean_refusal(post(http, inventory, token, body, {"Mcp-Method": method}), repr(body[:80]))

            one()
            still_serving(http, inventory, token)

    await anyio.to_thread.run_sync(run)
    assert await snapshot(admin_url, "inventory") == before


async def test_a_valid_call_right_after_garbage_on_the_same_connection(stack: Stack) -> None:
    """Keep-alive: garbage must not poison the connection it arrived on."""
    inventory = stack["inventory"]
    token = mint(stack.idp, user="alice@acme", server="inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        for label, body, changes in CASES[:10]:
            assert_clean_refusal(
                await http.post(inventory.url, content=body, headers={**HEADERS, **bearer(token), **changes}), label
            )
            assert result_of(await call_tool(http, inventory.url, token, "list_warehouses"))["isError"] is False
