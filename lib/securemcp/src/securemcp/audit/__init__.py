"""The audit trail: one append-only, hash-chained record per tool call, and proof nothing was removed.

Public names: `records.append`, `values.redact_arguments` and `canonical_json`, `chain.verify_chains`,
`batch.AuditBatcher`, `checkpoints.CheckpointWriter` and `checkpointing`, `verify.verify_server`,
`export.configure_export` (the SIEM sink), `attribution.attribution_of`.

Guarantees: a call's record commits with its effect or the call fails; the server role may only
insert and read; each record chains the tenant's previous one; signed checkpoints of the chain heads
are kept outside the database, so a removed tail or a rewritten record is found by `verify_server`.
"""
