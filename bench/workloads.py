"""What each simulated client does per call, built before the run; every answer is checked.

- `stock_reads`: `get_stock_level` over HTTP, rotating through pre-built requests spread over the
  tenants (one real token per tenant); the answer must carry the row's known SKU and quantity.
- `floor_reads`: the same read as a raw asyncpg transaction in this process (no HTTP, no MCP);
  `audited=True` adds the chained audit record our server writes per call.
- `approved_reorders`: `create_reorder` with the 2026-07-28 `input_required` round trip: the
  server asks for approval, the client answers `approve: true` with the sealed `requestState`, and
  the second answer must be the open reorder it asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.environment import expected_on_hand, sku_of, tenant_name, warehouse_of
from bench.floor import audited_stock_level, stock_level
from bench.load import (
    CallFailed,
    Connection,
    http_request,
    json_rpc_result,
    structured,
    tool_headers,
    tools_call_body,
)
from bench.processes import Process
from bench.targets import Endpoint

Operation = Callable[[Connection | None, int], Awaitable[None]]


@dataclass
class Workload:
    """How to open a client's connection and what one call is; `process` is the server to watch."""

    name: str
    operation: Operation
    open: Callable[[], Awaitable[Connection | None]]
    process: Process | None


@dataclass(frozen=True)
class Read:
    data: bytes
    sku: str
    on_hand: int


def read_keys(tenants: int, rows_per_tenant: int) -> list[tuple[str, int]]:
    """(tenant, row) pairs: every tenant at least once, rows spread over the whole table."""
    count = max(256, tenants)
    return [(tenant_name(index % tenants), (index * 7919) % rows_per_tenant) for index in range(count)]


def stock_reads(endpoint: Endpoint, *, tenants: int, rows_per_tenant: int) -> Workload:
    if endpoint.issuer is None:
        tenants = 1  # a bare server serves one fixed tenant
    tokens = {tenant_name(index): endpoint.token(tenant_name(index)) for index in range(tenants)}
    reads = [
        Read(
            http_request(
                endpoint.host_header,
                endpoint.path,
                tools_call_body("get_stock_level", {"sku": sku_of(row), "warehouse": warehouse_of(row)}),
                headers=tool_headers("get_stock_level", tokens[tenant]),
            ),
            sku_of(row),
            expected_on_hand(row),
        )
        for tenant, row in read_keys(tenants, rows_per_tenant)
    ]

    async def operation(connection: Connection | None, index: int) -> None:
        assert connection is not None
        read = reads[index % len(reads)]
        content = structured(json_rpc_result(*await connection.request(read.data)))
        if content.get("sku") != read.sku or content.get("on_hand") != read.on_hand:
            raise CallFailed(f"wrong row: {content}")

    async def open_connection() -> Connection:
        return await Connection.open(endpoint.host, endpoint.port, endpoint.tls)

    return Workload(endpoint.name, operation, open_connection, endpoint.process)


def floor_reads(pool: asyncpg.Pool, *, rows_per_tenant: int, audited: bool = False) -> Workload:
    keys = read_keys(1, rows_per_tenant)
    read = audited_stock_level if audited else stock_level

    async def operation(_connection: Connection | None, index: int) -> None:
        tenant, row = keys[index % len(keys)]
        level = await read(pool, tenant, sku_of(row), warehouse_of(row))
        if level is None or level.sku != sku_of(row) or level.on_hand != expected_on_hand(row):
            raise CallFailed(f"wrong row: {level}")

    async def no_connection() -> None:
        return None

    return Workload("floor + audit per call" if audited else "floor (asyncpg)", operation, no_connection, None)


def approved_reorders(endpoint: Endpoint, *, tenants: int, rows_per_tenant: int) -> Workload:
    """create_reorder, approved by the client in the 2026-07-28 round trip (two POSTs per call)."""
    tokens = {tenant_name(index): endpoint.token(tenant_name(index)) for index in range(tenants)}
    keys = read_keys(tenants, rows_per_tenant)
    headers = {tenant: tool_headers("create_reorder", token) for tenant, token in tokens.items()}

    def request(tenant: str, arguments: dict[str, Any], extra: dict[str, Any] | None = None) -> bytes:
        body = tools_call_body("create_reorder", arguments, extra)
        return http_request(endpoint.host_header, endpoint.path, body, headers=headers[tenant])

    asks = [
        (tenant, arguments, request(tenant, arguments))
        for tenant, row in keys
        for arguments in [{"sku": sku_of(row), "warehouse": warehouse_of(row), "quantity": 1 + row % 50}]
    ]

    async def operation(connection: Connection | None, index: int) -> None:
        assert connection is not None
        tenant, arguments, ask = asks[index % len(asks)]
        question = json_rpc_result(*await connection.request(ask))
        if question.get("resultType") != "input_required":
            raise CallFailed(f"expected an approval question, got {str(question)[:200]}")
        answers = {key: {"action": "accept", "content": {"approve": True}} for key in question["inputRequests"]}
        retry = request(tenant, arguments, {"inputResponses": answers, "requestState": question["requestState"]})
        reorder = structured(json_rpc_result(*await connection.request(retry)))
        if reorder.get("status") != "open" or reorder.get("sku") != arguments["sku"]:
            raise CallFailed(f"unexpected reorder: {reorder}")

    async def open_connection() -> Connection:
        return await Connection.open(endpoint.host, endpoint.port, endpoint.tls)

    return Workload(f"{endpoint.name}: create_reorder (approved)", operation, open_connection, endpoint.process)
