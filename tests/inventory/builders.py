"""Inventory test data: fixture ids by name (see fixtures/inventory.py)."""

from __future__ import annotations

from securemcp.ids import fixture_id

ACME_OPEN_REORDER = fixture_id("ro", "acme/0")
ACME_RECEIVED_REORDER = fixture_id("ro", "acme/1")
UNKNOWN_REORDER = "ro_" + "0" * 20  # well-formed, never issued
