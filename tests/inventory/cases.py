"""What the cross-server tests need from inventory (the names are described in tests/server_cases.py)."""

from securemcp.ids import fixture_id

from tests.server_cases import SideEffect

ROLES = {
    "supply_chain_manager": {"inventory:read", "inventory:reorder"},
    "analyst": {"inventory:read"},
    "returns_agent": {"inventory:read"},
    "approver": {"inventory:read", "inventory:decide"},
}

FUZZ_USER = "alice@acme"

REORDER = {"sku": "TAPE-48", "warehouse": "AMS-1", "quantity": 7}
SIDE_EFFECTS = {
    "create_reorder": SideEffect("alice@acme", REORDER, {**REORDER, "quantity": 8}),
    "cancel_reorder": SideEffect(
        "alice@acme", {"reorder_id": fixture_id("ro", "acme/0")}, {"reorder_id": fixture_id("ro", "acme/1")}
    ),
}
