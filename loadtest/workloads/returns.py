"""The returns agents: return reads; only rita (a returns agent) writes, rejecting listed returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtest.agents import Agent

AGENTS = [("acme", "rita@acme"), ("globex", "bob@globex")]


def read(agent: Agent) -> tuple[str, dict[str, Any]]:
    """Get a listed return half the time, else list returns."""
    found = agent.pick("list_returns")
    return ("get_return", {"return_id": found}) if found and agent.random.random() < 0.5 else ("list_returns", {})


def write(agent: Agent) -> tuple[str, dict[str, Any]] | None:
    """rita rejects a listed return; bob's role may only read returns."""
    found = agent.pick("list_returns")
    if agent.user != "rita@acme" or found is None:
        return None
    return "reject_return", {"return_id": found, "reason": "duplicate_request"}
