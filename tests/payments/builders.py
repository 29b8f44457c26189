"""Payments test data: fixture ids by name (see fixtures/payments.py), and the read tools in listing order."""

from securemcp.ids import fixture_id

ACME_PAYMENTS = [fixture_id("pay", f"acme/{number}") for number in range(5)]
GLOBEX_PAYMENTS = [fixture_id("pay", f"globex/{number}") for number in range(5)]
ACME_CHARGES = [fixture_id("ch", f"acme/{number}") for number in range(5)]
GLOBEX_CHARGES = [fixture_id("ch", f"globex/{number}") for number in range(5)]

ACME_PENDING = ACME_PAYMENTS[0]  # 12500.00 EUR to Nordic Steel AB
ACME_RELEASED = ACME_PAYMENTS[2]
ACME_FAILED = ACME_PAYMENTS[3]
ACME_INJECTED = ACME_PAYMENTS[4]  # pending; its supplier name tries to instruct the agent
ACME_UNREFUNDED = ACME_CHARGES[0]  # 250.00 EUR, nothing refunded
ACME_PARTLY_REFUNDED = ACME_CHARGES[1]  # 1200.00 EUR, 200.00 refunded, 1000.00 refundable
ACME_FULLY_REFUNDED = ACME_CHARGES[2]  # 89.99 EUR in two refunds

UNKNOWN_PAYMENT = "pay_" + "0" * 20
UNKNOWN_CHARGE = "ch_" + "0" * 20

READ_TOOLS = ["list_payments", "get_payment", "list_charges", "get_charge"]
