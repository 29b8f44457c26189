"""logistics: idempotency keys for side-effecting tools, and the 'replayed' audit decision

Revision ID: logistics_0300
Revises: logistics_0200
Create Date: 2026-11-22
"""

from tests.migrations_legacy.idempotency import create_idempotency_keys, drop_idempotency_keys

revision = "logistics_0300"
down_revision = "logistics_0200"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_keys("logistics")


def downgrade() -> None:
    drop_idempotency_keys("logistics")
