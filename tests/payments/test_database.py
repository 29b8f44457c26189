"""What Postgres itself refuses to the payments role, whatever the server code does."""

from __future__ import annotations

import pytest
from securemcp.tenancy.database import create_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.helpers import admin_rows, snapshot
from tests.payments.builders import ACME_PARTLY_REFUNDED, ACME_PENDING

pytestmark = pytest.mark.usefixtures("seeded")

REFUSED = [
    # Only the columns a release or a refund needs are writable.
    ("UPDATE payments.payments SET amount = 1 WHERE id = :p", "permission denied"),
    ("UPDATE payments.payments SET supplier_name = 'me' WHERE id = :p", "permission denied"),
    ("UPDATE payments.charges SET amount = amount * 2 WHERE id = :c", "permission denied"),
    ("UPDATE payments.refunds SET amount = 1", "permission denied"),
    ("DELETE FROM payments.refunds", "permission denied"),
    ("DELETE FROM payments.payments", "permission denied"),
    (
        "INSERT INTO payments.payments (id, tenant_id, supplier_name, invoice_ref, amount, currency, status, due_on) "
        "VALUES ('pay_ffffffffffffffffffff', 'acme', 'x', 'y', 1, 'EUR', 'pending_approval', '2027-01-01')",
        "permission denied",
    ),
    ("TRUNCATE payments.refunds", "permission denied"),
    # Even through the allowed columns the money rules hold.
    ("UPDATE payments.charges SET refunded = amount + 0.01 WHERE id = :c", "check constraint"),
    ("UPDATE payments.charges SET refunded = -1 WHERE id = :c", "check constraint"),
    ("UPDATE payments.payments SET status = 'released' WHERE id = :p", "check constraint"),
    ("UPDATE payments.payments SET status = 'sent' WHERE id = :p", "check constraint"),
    (
        "INSERT INTO payments.refunds (id, tenant_id, charge_id, amount, currency, issued_by) "
        "VALUES ('rf_ffffffffffffffffffff', 'acme', :c, 0, 'EUR', 'fred@acme')",
        "check constraint",
    ),
    (
        "INSERT INTO payments.refunds (id, tenant_id, charge_id, amount, currency, issued_by) "
        "VALUES ('rf_ffffffffffffffffffff', 'acme', :c, 1, 'XXX', 'fred@acme')",
        "check constraint",
    ),
    # A refund is booked in its charge's currency (composite key: tenant, charge, currency).
    (
        "INSERT INTO payments.refunds (id, tenant_id, charge_id, amount, currency, issued_by) "
        "VALUES ('rf_ffffffffffffffffffff', 'acme', :c, 1, 'USD', 'fred@acme')",
        "foreign key",
    ),
    # Another tenant's row is invisible, so it cannot be written either.
    (
        "INSERT INTO payments.refunds (id, tenant_id, charge_id, amount, currency, issued_by) "
        "VALUES ('rf_ffffffffffffffffffff', 'globex', :c, 1, 'EUR', 'gwen@globex')",
        "row-level security",
    ),
    ("SELECT * FROM inventory.reorders", "permission denied"),
]


@pytest.mark.parametrize(("sql", "error"), REFUSED)
async def test_the_payments_role_is_refused(admin_url: str, server_urls: dict[str, str], sql: str, error: str) -> None:
    before = await snapshot(admin_url, "payments")
    engine = create_engine(server_urls["payments"])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match=error):
                async with conn.begin():
                    await conn.execute(text("SELECT set_config('app.tenant_id', 'acme', true)"))
                    statement = text(sql)
                    params = {"p": ACME_PENDING, "c": ACME_PARTLY_REFUNDED}
                    await conn.execute(statement, {k: v for k, v in params.items() if f":{k}" in sql})
    finally:
        await engine.dispose()
    assert await snapshot(admin_url, "payments") == before


async def test_fixture_totals_match_their_refunds(admin_url: str) -> None:
    mismatched = await admin_rows(
        admin_url,
        "SELECT c.id FROM payments.charges c LEFT JOIN payments.refunds r ON r.charge_id = c.id "
        "GROUP BY c.id, c.refunded HAVING c.refunded <> coalesce(sum(r.amount), 0)",
    )
    assert mismatched == []
