"""logistics: the append-only, hash-chained audit log

Revision ID: logistics_0100
Revises: logistics_0001
Create Date: 2026-11-22
"""

from tests.migrations_legacy.audit import create_audit_log

revision = "logistics_0100"
down_revision = "logistics_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log("logistics")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never dropped by a migration")
