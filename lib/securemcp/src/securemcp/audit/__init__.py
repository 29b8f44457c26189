"""The audit trail: one append-only, hash-chained record per tool call, and proof nothing was removed.

Public names: `records.append`, `values.redact_arguments` and `canonical_json`, `chain.verify_chains`,
`batch.AuditBatcher`, `checkpoints.CheckpointWriter` and `checkpointing`, `verify.verify_server`,
`verified_heads` (what `audit verify` remembers between runs), `export.configure_export` (the SIEM
sink), `attribution.attribution_of`.

Guarantees: a call's record commits with its effect or the call fails; the server role may only
insert and read, and never chooses a record's place in the chain (`seq`); each record chains the
tenant's previous one; signed checkpoints of the chain heads are kept outside the database, each
naming the one before it in the sink, so a removed tail, a rewritten record or checkpoint lines
removed from the sink are found by `verify_server`, and a sink gone back behind what a previous
verification saw, with the remembered heads.
"""
