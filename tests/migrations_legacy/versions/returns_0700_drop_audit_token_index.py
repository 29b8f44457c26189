"""returns: drop the audit_log_token index (every record paid for it; the playbook never used it)

Revision ID: returns_0700
Revises: returns_0500
Create Date: 2026-12-02
"""

from tests.migrations_legacy.audit_token_index import create_token_index, drop_token_index

revision = "returns_0700"
down_revision = "returns_0500"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_token_index("returns")


def downgrade() -> None:
    create_token_index("returns")
