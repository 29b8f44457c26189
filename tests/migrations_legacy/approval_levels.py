"""Approval levels on pending approvals, outside text kept apart, and decisions made on the approval page."""

from alembic import op

_ACTOR_KINDS = "'mcp', 'cli'"


def add_approval_levels(schema: str) -> None:
    """`level` and `outside_text` on `<schema>.pending_approvals`; audit records may come from the page.

    Rows recorded before levels existed were asked of the requester's client: `confirm`.
    """
    op.execute(
        f"ALTER TABLE {schema}.pending_approvals ADD COLUMN level text NOT NULL DEFAULT 'confirm' "
        "CHECK (level IN ('confirm', 'verified', 'four_eyes'))"
    )
    op.execute(f"ALTER TABLE {schema}.pending_approvals ALTER COLUMN level DROP DEFAULT")
    op.execute(
        f"ALTER TABLE {schema}.pending_approvals ADD COLUMN outside_text jsonb NOT NULL DEFAULT '{{}}'::jsonb "
        "CHECK (jsonb_typeof(outside_text) = 'object')"
    )
    # The decision's record is written by the approval page (`securemcp.approvals.decisions`): actor_kind 'page'.
    _actor_kinds(schema, f"{_ACTOR_KINDS}, 'page'")


def drop_approval_levels(schema: str) -> None:
    """Fails while the audit trail holds 'page' records: the trail is never rewritten to go back."""
    _actor_kinds(schema, _ACTOR_KINDS)
    op.execute(f"ALTER TABLE {schema}.pending_approvals DROP COLUMN outside_text")
    op.execute(f"ALTER TABLE {schema}.pending_approvals DROP COLUMN level")


def _actor_kinds(schema: str, allowed: str) -> None:
    op.execute(f"ALTER TABLE {schema}.audit_log DROP CONSTRAINT audit_log_actor_kind_check")
    op.execute(
        f"ALTER TABLE {schema}.audit_log ADD CONSTRAINT audit_log_actor_kind_check CHECK (actor_kind IN ({allowed}))"
    )
