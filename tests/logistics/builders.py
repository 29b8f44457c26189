"""Logistics test data: fixture ids by name, and argument builders for the tools."""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult
from securemcp.ids import fixture_id
from securemcp.untrusted import UntrustedText

from fixtures.logistics import SHIPMENTS

IN_TRANSIT = fixture_id("sh", "acme/NWF-500104")  # headed to AMS-1
DELAYED = fixture_id("sh", "acme/BLU-700103")  # headed to RTM-2
DELIVERED = fixture_id("sh", "acme/BLU-700101")
RETURNED = fixture_id("sh", "acme/NWF-500102")
NONEXISTENT = "sh_" + "0" * 20  # well-formed, never issued
ACME_NEWEST_FIRST = ["NWF-500106", "SKY-900105", "NWF-500104", "BLU-700103", "NWF-500102", "BLU-700101"]
GLOBEX_SHIPMENT_IDS = {fixture_id("sh", f"globex/{tracking}") for tracking, *_ in SHIPMENTS["globex"]}


def text(result: CallToolResult) -> str:
    """The first text block of a tool result: the message a tool error carries."""
    return str(getattr(result.content[0], "text", ""))


def untrusted(text: str) -> dict[str, str]:
    """A carrier-written field as structured output carries it."""
    return UntrustedText.of(text).model_dump()


def reroute_args(
    shipment_id: str = IN_TRANSIT, destination: str = "RTM-2", reason: str = "warehouse_capacity"
) -> dict[str, Any]:
    """Arguments for reroute_shipment; by default a valid reroute of acme's in-transit shipment."""
    return {"shipment_id": shipment_id, "destination_warehouse": destination, "reason": reason}
