"""The inventory agents: stock reads, and reorders with a quantity unique per write (duplicates show)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fixtures.inventory import WAREHOUSES as FIXTURE_WAREHOUSES

if TYPE_CHECKING:
    from loadtest.agents import Agent

AGENTS = [("acme", "alice@acme"), ("globex", "bob@globex")]
WAREHOUSES = {tenant: [code for code, *_ in rows] for tenant, rows in FIXTURE_WAREHOUSES.items()}


def read(agent: Agent) -> tuple[str, dict[str, Any]]:
    """Mostly stock levels, some reorders and warehouses."""
    choice = agent.random.random()
    warehouse = agent.random.choice(WAREHOUSES[agent.tenant])
    if choice < 0.4:
        return "list_stock_levels", {"warehouse": warehouse, "below_reorder_point": choice < 0.2}
    if choice < 0.7:
        return "get_stock_level", {"sku": "BOLT-M8", "warehouse": warehouse}
    return ("list_reorders", {}) if choice < 0.9 else ("list_warehouses", {})


def write(agent: Agent) -> tuple[str, dict[str, Any]] | None:
    """A reorder whose quantity no other write uses, so a duplicated effect is visible (loadtest.invariants)."""
    warehouse = agent.random.choice(WAREHOUSES[agent.tenant])
    quantity = next(agent.tally.reorder_quantities)
    return "create_reorder", {"sku": "TAPE-48", "warehouse": warehouse, "quantity": quantity}
