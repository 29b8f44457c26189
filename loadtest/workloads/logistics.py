"""The logistics agents: shipment reads, and reroutes of shipments they listed (decided on the page)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fixtures.inventory import WAREHOUSES as FIXTURE_WAREHOUSES

if TYPE_CHECKING:
    from loadtest.agents import Agent

AGENTS = [("acme", "alice@acme"), ("globex", "bob@globex")]
WAREHOUSES = {tenant: [code for code, *_ in rows] for tenant, rows in FIXTURE_WAREHOUSES.items()}


def read(agent: Agent) -> tuple[str, dict[str, Any]]:
    """Track a listed shipment half the time, else list shipments or carriers."""
    choice = agent.random.random()
    shipment = agent.pick("list_shipments")
    if shipment and choice < 0.5:
        return "track_shipment", {"shipment_id": shipment}
    return ("list_shipments", {}) if choice < 0.85 else ("list_carriers", {})


def write(agent: Agent) -> tuple[str, dict[str, Any]] | None:
    """Reroute a listed shipment to one of the tenant's warehouses."""
    shipment = agent.pick("list_shipments")
    if shipment is None:
        return None
    destination = agent.random.choice(WAREHOUSES[agent.tenant])
    return "reroute_shipment", {"shipment_id": shipment, "destination_warehouse": destination,
                                "reason": "customer_request"}  # fmt: skip
