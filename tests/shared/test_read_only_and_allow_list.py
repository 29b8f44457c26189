"""Read-only mode and the tool allow-list: deployment settings that only ever narrow what a server offers."""

from __future__ import annotations

import os
import sys

import anyio
import pytest
from securemcp.settings import SettingsError

from supplychain.servers import load_settings
from tests.helpers import Human, mcp_client, snapshot

pytestmark = pytest.mark.usefixtures("seeded")

REORDER = {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 1}


async def test_global_read_only_hides_and_refuses_every_side_effect(
    admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_READ_ONLY", "true")
    before = await snapshot(admin_url, "inventory")
    human = Human()
    async with mcp_client("inventory", "alice@acme", human=human) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        refused = await client.call_tool("create_reorder", REORDER)
    assert names == ["list_warehouses", "list_stock_levels", "get_stock_level", "list_reorders", "get_approval"]
    assert refused.is_error is True
    assert refused.content[0].text == "create_reorder is not available: this server runs read-only"
    assert human.questions == []  # refused before anyone is asked
    assert await snapshot(admin_url, "inventory") == before


@pytest.mark.parametrize("relax", [{"read_only": False}])
async def test_nothing_relaxes_read_only_once_set(monkeypatch: pytest.MonkeyPatch, relax: dict[str, bool]) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_READ_ONLY", "1")
    assert load_settings("inventory", **relax).read_only is True
    monkeypatch.delenv("SUPPLYCHAIN_READ_ONLY")
    monkeypatch.setenv("SUPPLYCHAIN_INVENTORY_READ_ONLY", "true")
    assert load_settings("inventory").read_only is True


@pytest.mark.parametrize("value", ["maybe", "2", "tru", "yes please"])
async def test_an_unparseable_read_only_value_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_READ_ONLY", value)
    with pytest.raises(ValueError, match="read_only"):
        load_settings("inventory")


async def test_the_allow_list_offers_only_the_named_tools_and_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_TOOLS", "get_stock_level, list_*")
    async with mcp_client("inventory", "alice@acme", human=Human()) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        refused = await client.call_tool("create_reorder", REORDER)
        allowed = await client.call_tool("get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1"})
    assert names == ["list_warehouses", "list_stock_levels", "get_stock_level", "list_reorders"]
    assert refused.content[0].text == "create_reorder is not enabled on this server (SUPPLYCHAIN_TOOLS)"
    assert allowed.is_error is False


@pytest.mark.parametrize("value", ["DROP TABLE", "list_*, *", ",", "get-stock"])
async def test_a_malformed_allow_list_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_TOOLS", value)
    with pytest.raises((SettingsError, ValueError)):
        load_settings("inventory")


async def test_the_cli_refuses_to_start_with_an_unparseable_read_only_value() -> None:
    env = {**os.environ, "SUPPLYCHAIN_READ_ONLY": "perhaps", "SUPPLYCHAIN_TENANT": "acme",
           "SUPPLYCHAIN_USER": "alice@acme", "SUPPLYCHAIN_ROLES": "analyst"}  # fmt: skip
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "supplychain.cli", "serve", "inventory"], input=b"", env=env, check=False
        )
    assert done.returncode == 2
    assert "refusing to start: read_only: Input should be a valid boolean" in done.stderr.decode()
