"""inventory: pending approvals for clients that cannot be asked mid-call

Revision ID: inventory_0200
Revises: inventory_0100
Create Date: 2026-11-22
"""

from tests.migrations_legacy.approvals import create_pending_approvals, drop_pending_approvals

revision = "inventory_0200"
down_revision = "inventory_0100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_pending_approvals("inventory")


def downgrade() -> None:
    drop_pending_approvals("inventory")
