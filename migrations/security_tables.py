"""The security tables of a new server, as they stand today, one call per concern.

The four original servers reached these tables through a chain of migrations (`<server>_0100` to
`_0700`). A new server's first migration calls these three instead, and gets the same end state:
each composes the helpers of that chain in the chain's own order, so the two cannot drift apart
(`tests/shared/test_security_tables.py` compares them, column by column and grant by grant).

Call them in this order: the approvals and idempotency helpers alter the audit table's checks.
"""

from migrations.approval_levels import add_approval_levels
from migrations.approvals import create_pending_approvals
from migrations.audit import create_audit_log
from migrations.audit_append import create_audit_append_functions
from migrations.audit_attribution import add_attribution
from migrations.audit_token_index import drop_token_index
from migrations.idempotency import create_idempotency_keys


def create_audit_trail(schema: str) -> None:
    """`<schema>.audit_log` (append-only, hash-chained, attributed) and its batch-append functions."""
    create_audit_log(schema)  # _0100
    create_audit_append_functions(schema)  # _0400
    add_attribution(schema)  # _0600: the attribution columns, and the append functions that write them
    drop_token_index(schema)  # _0700: the token index _0600 made goes again


def create_approvals(schema: str) -> None:
    """`<schema>.pending_approvals` with approval levels; audit records may come from the approval page."""
    create_pending_approvals(schema)  # _0200
    add_approval_levels(schema)  # _0500


def create_idempotency(schema: str) -> None:
    """`<schema>.idempotency_keys`; audit records may say a call was replayed."""
    create_idempotency_keys(schema)  # _0300
