"""payments: the append-only, hash-chained audit log

Revision ID: payments_0100
Revises: payments_0001
Create Date: 2026-11-22
"""

from tests.migrations_legacy.audit import create_audit_log

revision = "payments_0100"
down_revision = "payments_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log("payments")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never dropped by a migration")
