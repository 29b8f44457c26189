"""The payments agents (finance): charge and payment reads, and one-cent refunds of listed charges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtest.agents import Agent

AGENTS = [("acme", "fred@acme"), ("globex", "gwen@globex")]


def read(agent: Agent) -> tuple[str, dict[str, Any]]:
    """Get a listed charge sometimes, else list charges or payments."""
    choice = agent.random.random()
    charge = agent.pick("list_charges")
    if charge and choice < 0.4:
        return "get_charge", {"charge_id": charge}
    return ("list_charges", {}) if choice < 0.7 else ("list_payments", {})


def write(agent: Agent) -> tuple[str, dict[str, Any]] | None:
    """Refund one cent of a listed charge (four eyes: it waits on the page)."""
    charge = agent.pick("list_charges")
    return ("issue_refund", {"charge_id": charge, "amount": "0.01"}) if charge else None
