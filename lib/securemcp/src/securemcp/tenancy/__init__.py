"""The tenant boundary in the database: every transaction is opened for one tenant.

Public names: `database.tenant_transaction`, `database.set_tenant` (the one place that tells
Postgres the tenant), `database.create_engine`, `reads.read_statement` and `reads.ReadStatement`
(compiled read statements that take the tenant as their first, unforgeable parameter).

Guarantees: `SET LOCAL app.tenant_id` inside each transaction, so Postgres row-level security scopes
every row even if a query forgot its tenant filter; the setting never outlives the transaction on a
pooled connection; a database outage is a clear, retryable tool error that changed nothing.
"""
