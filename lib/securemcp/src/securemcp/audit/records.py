"""The audit trail: one append-only, hash-chained record per tool call, written with its effect.

Guarantees:
- Every `tools/call` that reaches a server leaves exactly one record in that server's own
  `<schema>.audit_log`, refusals included (missing scope, unknown arguments, declined or unanswerable
  approval, validation errors): who (tenant, user, client, actor kind), how (transport), what (tool,
  arguments redacted by `redact_arguments` plus the SHA-256 of the canonical full arguments), the
  approval decision, the outcome, the output size and the latency. Whatever the arguments (NaN, lone
  surrogates, 10,000-deep nesting), the record is written: `securemcp.audit.values` says what they become.
- A call's database work and its record share one transaction: the tool body's `caller.transaction()`
  stays open until the gate has the result, then the record is inserted and both commit together.
  No change without its record; if the record cannot be written, the change is rolled back and the
  call fails. (A call that changed nothing commits its reads first; its record then commits before
  the answer is sent, or the call fails the same way.)
- Append-only: the server role may insert and read, never update, delete or truncate, and a trigger
  refuses updates and deletes for every role (see `securemcp.schema.audit_log`).
- Tamper-evident: each record carries the hash of the tenant's previous record; `verify_chains`
  (`securemcp.audit.chain`) recomputes every chain and names the first broken record. A per-tenant
  advisory lock, held from reading the previous hash to commit, keeps each chain linear without
  serialising other tenants; the records of calls that changed nothing are group-committed (`securemcp.audit.batch`),
  so concurrent reads share one transaction and one WAL flush instead of queueing for each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from securemcp.audit.chain import append_all
from securemcp.audit.checkpoints import note_written
from securemcp.audit.values import (
    canonical_json as canonical_json,  # re-exported: idempotency and approvals hash with it
)
from securemcp.audit.values import redact_arguments as redact_arguments
from securemcp.tenancy.database import driver_connection, driver_failures


async def append(session: AsyncSession, schema: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Chain `record` to its tenant's last record and insert it, inside the session's transaction."""
    driver = await driver_connection(await session.connection())
    async with driver_failures(driver):
        rows = await append_all(driver, schema, [record])
    # Noted for the checkpoints once committed: a checkpoint read before the commit would miss it for good.
    tenants = {str(row["tenant_id"]) for row in rows}
    event.listen(session.sync_session, "after_commit", lambda _session: note_written(schema, tenants), once=True)
    return rows
