"""What the cross-server tests need from payments (the names are described in tests/server_cases.py)."""

from tests.payments.builders import ACME_INJECTED, ACME_PENDING, ACME_UNREFUNDED
from tests.server_cases import SideEffect

ROLES = {
    "finance": {"payments:read", "payments:release", "payments:refund"},
    "analyst": {"payments:read"},
    "approver": {"payments:read", "payments:decide"},
}

FUZZ_USER = "bob@globex"

SIDE_EFFECTS = {
    # 12500.00 EUR, above the four-eyes threshold; the changed call (640.00 EUR) would be verified.
    "release_payment": SideEffect(
        "fred@acme", {"payment_id": ACME_PENDING}, {"payment_id": ACME_INJECTED}, level="four_eyes"
    ),
    "issue_refund": SideEffect(
        "fred@acme",
        {"charge_id": ACME_UNREFUNDED, "amount": "10.00"},
        {"charge_id": ACME_UNREFUNDED, "amount": "10.01"},
    ),
}
