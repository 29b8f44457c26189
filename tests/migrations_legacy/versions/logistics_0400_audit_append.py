"""logistics: functions that append a batch of audit records in two round trips, whatever its tenants

Revision ID: logistics_0400
Revises: logistics_0300
Create Date: 2026-11-22
"""

from tests.migrations_legacy.audit_append import create_audit_append_functions, drop_audit_append_functions

revision = "logistics_0400"
down_revision = "logistics_0300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_append_functions("logistics")


def downgrade() -> None:
    drop_audit_append_functions("logistics")
