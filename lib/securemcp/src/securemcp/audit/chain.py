"""The hash chain of the audit trail: how records are chained, inserted and verified.

Each record carries the hash of its tenant's previous record (`record_hash`); `append_all` chains and
inserts records in the caller's transaction, and `verify_chains` recomputes every chain and names the
first broken record. `securemcp.audit.records` (one record per call) and `securemcp.audit.batch` (group commit)
both write through `append_all`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from securemcp.audit.values import canonical_json

GENESIS = "0" * 64
HASHED_FIELDS = (
    "id", "tenant_id", "occurred_at", "request_id", "user_id", "client_id", "actor_kind", "transport", "tool",
    "arguments", "arguments_sha256", "decision", "approval_id", "outcome", "detail", "output_bytes", "latency_ms",
)  # fmt: skip
# Added later (the attribution columns, `securemcp.schema.audit_log`): hashed when they hold a value,
# so older records verify unchanged.
ATTRIBUTION_FIELDS = ("token_id", "token_scope", "trace_id", "client_address")


def record_hash(previous: str, record: Mapping[str, Any]) -> str:
    """The hash that chains `record` to the tenant's previous record.

    Values are normalised first, so a record hashes the same when written and when read back
    (a timestamp in UTC ISO form, the arguments as the JSON document they are).
    """
    fields = {name: record[name] for name in HASHED_FIELDS}
    fields |= {name: record[name] for name in ATTRIBUTION_FIELDS if record.get(name) is not None}
    if isinstance(fields["occurred_at"], datetime):
        fields["occurred_at"] = fields["occurred_at"].astimezone(UTC).isoformat()
    if isinstance(fields["arguments"], str):
        fields["arguments"] = json.loads(fields["arguments"])
    return hashlib.sha256(f"{previous}\n{canonical_json(fields)}".encode()).hexdigest()


async def append_all(
    connection: asyncpg.Connection, schema: str, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Chain `records` (any tenants; each tenant's in this order) to their chains and insert them; the rows
    as inserted, hashes included (for `securemcp.audit.export` and `securemcp.audit.checkpoints` once they commit).

    Runs in the caller's open transaction, straight on the driver, in two round trips whatever the
    number of tenants: `<schema>.audit_chain_heads` sets each tenant, takes its chain lock (held until
    commit: one chain per tenant and server stays linear, other tenants never wait) and reads its
    last hash; the hashes are computed here; `<schema>.audit_append` inserts the records in order
    under each tenant's setting (see `securemcp.schema.audit_append`). The transaction is left scoped to
    the last of those tenants, so this is the last thing a transaction does before it commits.
    """
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_tenant.setdefault(str(record["tenant_id"]), []).append(record)
    tenants = sorted(by_tenant)  # one lock order for every writer, so no two wait on each other
    heads = await connection.fetch(
        f"SELECT chain_tenant, chain_head FROM {schema}.audit_chain_heads($1::text[])",  # noqa: S608
        tenants,
    )
    rows = []
    for tenant, head in heads:
        previous = head or GENESIS
        for record in by_tenant[tenant]:
            row_hash = record_hash(previous, record)
            rows.append(
                {**record, "occurred_at": record["occurred_at"].isoformat(), "prev_hash": previous, "hash": row_hash}
            )
            previous = row_hash
    # default=str as in `canonical_json`: a value JSON cannot hold is stored as the text it was hashed as.
    await connection.execute(f"SELECT {schema}.audit_append($1::jsonb)", json.dumps(rows, default=str))
    return rows


@dataclass(frozen=True)
class BrokenLink:
    """The first record of a chain that does not verify."""

    schema: str
    tenant_id: str
    seq: int
    record_id: str
    reason: str


async def verify_chains(
    engine: AsyncEngine,
    schema: str,
    *,
    tenants: Iterable[str] | None = None,
    observe: Callable[[str, int, str], None] | None = None,
) -> tuple[int, list[BrokenLink]]:
    """Walk every tenant's chain in `schema`; the records checked and the broken links.

    With `tenants`, only those, each read under its own tenant setting (for a role that row-level
    security applies to). `observe(tenant, seq, hash)` sees every record walked, in chain order.
    """
    checked = 0
    broken: list[BrokenLink] = []
    last: dict[str, str] = {}
    failed: set[str] = set()
    async with engine.connect() as connection:
        if tenants is None:
            batches = [await connection.execute(text(f"SELECT * FROM {schema}.audit_log ORDER BY tenant_id, seq"))]  # noqa: S608
        else:
            batches = []
            for tenant in tenants:
                await connection.execute(text("SELECT set_config('app.tenant_id', :t, false)"), {"t": tenant})
                batches.append(await connection.execute(
                    text(f"SELECT * FROM {schema}.audit_log WHERE tenant_id = :t ORDER BY seq"), {"t": tenant}  # noqa: S608
                ))  # fmt: skip
            await connection.execute(text("SELECT set_config('app.tenant_id', '', false)"))
        for row in (row for rows in batches for row in rows.mappings()):
            tenant = row["tenant_id"]
            if observe is not None:
                observe(tenant, row["seq"], row["hash"])
            if tenant in failed:
                continue
            checked += 1
            record = {name: row.get(name) for name in (*HASHED_FIELDS, *ATTRIBUTION_FIELDS)}
            expected_previous = last.get(tenant, GENESIS)
            reason = None
            if row["prev_hash"] != expected_previous:
                reason = "previous-hash link broken (a record was removed or inserted)"
            elif record_hash(expected_previous, record) != row["hash"]:
                reason = "content does not match its hash (the record was altered)"
            if reason is not None:
                broken.append(BrokenLink(schema, tenant, row["seq"], row["id"], reason))
                failed.add(tenant)
            last[tenant] = row["hash"]
    return checked, broken
