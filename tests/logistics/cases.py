"""What the cross-server tests need from logistics (the names are described in tests/server_cases.py)."""

from tests.logistics.builders import IN_TRANSIT, reroute_args
from tests.server_cases import SideEffect

ROLES = {
    "supply_chain_manager": {"logistics:read", "logistics:reroute"},
    "analyst": {"logistics:read"},
    "approver": {"logistics:read", "logistics:decide"},
}

FUZZ_USER = "bob@globex"

SIDE_EFFECTS = {
    "reroute_shipment": SideEffect("alice@acme", reroute_args(), reroute_args(IN_TRANSIT, "ZZZ-9")),
}
