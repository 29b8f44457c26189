"""returns: pending approvals for clients that cannot be asked mid-call

Revision ID: returns_0200
Revises: returns_0100
Create Date: 2026-11-22
"""

from tests.migrations_legacy.approvals import create_pending_approvals, drop_pending_approvals

revision = "returns_0200"
down_revision = "returns_0100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_pending_approvals("returns")


def downgrade() -> None:
    drop_pending_approvals("returns")
