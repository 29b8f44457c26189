"""The bare servers: what a team would write without any security, with the same query.

`python -m bench.bare mcp|fastmcp --port N` serves one `get_stock_level(sku, warehouse)` tool over
Streamable HTTP with uvicorn's defaults (the same loop and parser as ours). No token, no scopes, no
audit: the tenant is fixed at start (`BENCH_TENANT`), the database role is the server's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import asyncpg
import uvicorn

from bench.floor import create_pool, stock_level
from servers.inventory.models import StockLevelPublic


class LazyPool:
    """One pool per process, made by the first call (no lifespan plumbing in a bare server)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None
        self.lock = asyncio.Lock()

    async def get(self) -> asyncpg.Pool:
        if self.pool is None:
            async with self.lock:
                if self.pool is None:
                    self.pool = await create_pool(self.dsn)
        return self.pool


async def _stock_level(pool: LazyPool, tenant: str, sku: str, warehouse: str) -> StockLevelPublic:
    """The one tool body both bare servers share: the floor's query, no security."""
    level = await stock_level(await pool.get(), tenant, sku, warehouse)
    if level is None:
        raise ValueError("not found")
    return level


def mcp_app(pool: LazyPool, tenant: str) -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench-bare-mcp")

    @server.tool()
    async def get_stock_level(sku: str, warehouse: str) -> StockLevelPublic:
        """Get the stock level of one SKU in one warehouse."""
        return await _stock_level(pool, tenant, sku, warehouse)

    return server.streamable_http_app(streamable_http_path="/mcp")


def fastmcp_app(pool: LazyPool, tenant: str) -> Any:
    from fastmcp import FastMCP

    server = FastMCP("bench-bare-fastmcp")

    @server.tool
    async def get_stock_level(sku: str, warehouse: str) -> StockLevelPublic:
        """Get the stock level of one SKU in one warehouse."""
        return await _stock_level(pool, tenant, sku, warehouse)

    return server.http_app(path="/mcp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["mcp", "fastmcp"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    pool = LazyPool(os.environ["BENCH_DSN"])
    build = mcp_app if args.kind == "mcp" else fastmcp_app
    uvicorn.run(build(pool, os.environ["BENCH_TENANT"]), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
