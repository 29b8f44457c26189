"""payments: approval levels and outside text on pending approvals; decisions recorded by the approval page

Revision ID: payments_0500
Revises: payments_0600
Create Date: 2026-12-01
"""

from tests.migrations_legacy.approval_levels import add_approval_levels, drop_approval_levels

revision = "payments_0500"
down_revision = "payments_0600"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_approval_levels("payments")


def downgrade() -> None:
    drop_approval_levels("payments")
