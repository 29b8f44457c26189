"""inventory: the append-only, hash-chained audit log

Revision ID: inventory_0100
Revises: inventory_0001
Create Date: 2026-11-22
"""

from tests.migrations_legacy.audit import create_audit_log

revision = "inventory_0100"
down_revision = "inventory_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log("inventory")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is never dropped by a migration")
