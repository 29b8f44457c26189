"""The DDL of the tables the library reads and writes in each server schema, for a server's migrations.

Public names:
- `tables.create_security_tables(schema)`: the audit trail (append-only, hash-chained, attributed, with
  its batch-append functions), pending approvals (with levels and outside text) and idempotency keys;
- `tenancy.isolate_by_tenant(schema, table)` and `tenancy.grant_schema_usage(schema)`: forced row-level
  security on `app.tenant_id`, and the schema's use by its own role `<schema>_svc` only;
- `tables.SECURITY_TABLES` and `tables.SECURITY_FUNCTIONS`: what `create_security_tables` makes;
- `audit_seq.upgrade_audit_seq(schema)`: the step that brings an `audit_log` made before `seq` was drawn
  by a trigger (an identity column an INSERT could override) to what `create_security_tables` makes now,
  and `audit_seq.seq_is_choosable` to tell the two apart.

Guarantees: every table is tenant-isolated (FORCE ROW LEVEL SECURITY) and grants the server role only
what the library's code does with it (the audit log: read and insert, nothing else, for anyone). Once
a version is released, what a helper here creates never changes: a migration that called it means the
same thing forever. A later version that changes these tables adds a step from the previous state,
which a clone calls from a new revision, and says so in the CHANGELOG.
"""
