"""The `audit_log_token` index goes (issue 16): every audit record paid for it, and the playbook never used it.

Measured (docs/performance.md, "This round's levers"): each record wrote 12-20 % more WAL with it
(1,143-1,221 against 997-1,024 bytes); Postgres CPU per insert moved inside the noise. The query it
was made for does not use it: `supplychain incident token` (`supplychain/incident.py`) matches
`token_id = X OR client_id = X`, and with one arm unindexed Postgres reads `audit_log_tenant_time` by
time instead (EXPLAIN, checked).
`get_activity_log`'s token filter stays within one tenant: `audit_log_tenant_seq` serves it, newest
first, until a page is full.
"""

from alembic import op


def drop_token_index(schema: str) -> None:
    op.execute(f"DROP INDEX IF EXISTS {schema}.audit_log_token")


def create_token_index(schema: str) -> None:
    op.execute(f"CREATE INDEX audit_log_token ON {schema}.audit_log (token_id, seq)")
