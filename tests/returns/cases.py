"""What the cross-server tests need from returns (the names are described in tests/server_cases.py)."""

from fixtures.returns import return_id
from tests.server_cases import SideEffect

ROLES = {
    "supply_chain_manager": {"returns:read"},
    "finance": {"returns:read"},
    "analyst": {"returns:read"},
    "returns_agent": {"returns:read", "returns:write"},
    "approver": {"returns:read", "returns:decide"},
}

FUZZ_USER = "alice@acme"

SIDE_EFFECTS = {
    "approve_return": SideEffect(
        "rita@acme", {"return_id": return_id("acme", "crushed-box")}, {"return_id": return_id("acme", "wrong-size")}
    ),
    "reject_return": SideEffect(
        "rita@acme",
        {"return_id": return_id("acme", "crushed-box"), "reason": "duplicate_request"},
        {"return_id": return_id("acme", "wrong-size"), "reason": "duplicate_request"},
    ),
}
