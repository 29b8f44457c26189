"""returns: audit records name the token, the trace and the client address of each call

Revision ID: returns_0600
Revises: returns_0400
Create Date: 2026-12-01
"""

from tests.migrations_legacy.audit_attribution import add_attribution, drop_attribution

revision = "returns_0600"
down_revision = "returns_0400"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_attribution("returns")


def downgrade() -> None:
    drop_attribution("returns")
