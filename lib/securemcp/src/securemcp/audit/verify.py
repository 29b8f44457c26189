"""`supplychain audit verify`: every chain checked against itself, its signed checkpoints, and what it can see.

A server's trail is reported intact only when all of these hold:
- every record re-hashes to its hash and links to its tenant's previous record (`securemcp.audit.records`);
- the server has checkpoints at all: records with none are "NOT VERIFIED: no checkpoints" (a mistyped
  `--checkpoints` path, a lost sink, or a new deployment before its first `supplychain audit checkpoint`);
- every checkpoint line carries a valid signature by the public key its `key` field names
  (`securemcp.audit.checkpoint_keys`), and each writer's checkpoints are numbered 1, 2, 3... with each
  previous-checkpoint hash matching;
- every checkpoint named by a later one's `after` (the newest in the sink when that one was appended,
  whichever writer wrote it) is there: lines removed from the sink, one writer's for instance, leave
  a "CHECKPOINT MISSING" (`securemcp.audit.checkpoint_links`);
- every newest checkpoint a previous intact verification remembered is still there: a sink put back
  to an older copy, or cut, is "SINK WENT BACK" (`securemcp.audit.verified_heads`; the caller passes
  them in, and remembers `ServerReport.heads` when the report is intact);
- for every checkpoint, the tenant's chain still holds the record it names (same sequence number, same
  hash) with the same number of records up to it: a deleted tail ("shorter than its checkpoint"), a
  deleted chain ("checkpoints but no chain") or a rewritten head ("head hash differs") is named;
- the verifier saw every tenant's rows: it reads as a role that bypasses row-level security, and checks
  that it does. A role that does not (a managed Postgres admin without BYPASSRLS) is refused "intact":
  the tenants named by checkpoints are still checked one by one, and the report says what it could not see.
Records newer than a tenant's newest checkpoint whose record still exists are reported as not yet
covered, with a count: nothing outside the database vouches for them yet.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from securemcp.audit.chain import verify_chains
from securemcp.audit.checkpoint_keys import public_key_file, public_keys
from securemcp.audit.checkpoint_lines import GENESIS, checkpoint_hash, is_signed, well_formed
from securemcp.audit.checkpoint_links import dangling_references, newest_checkpoints
from securemcp.audit.verified_heads import Heads, went_back


@dataclass
class ServerReport:
    """What `audit verify` found for one server."""

    server: str
    records: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    uncovered: dict[str, int] = field(default_factory=dict)  # tenant -> records newer than its last checkpoint
    unseen_reason: str | None = None  # why the verifier could not see every tenant's rows
    heads: Heads = field(default_factory=list)  # the newest checkpoints, to remember once found intact

    @property
    def intact(self) -> bool:
        """True only when nothing is wrong and every tenant's rows were visible."""
        return not self.problems and self.unseen_reason is None


def read_checkpoint_lines(paths: Iterable[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every checkpoint line of `paths` and the lines that are not checkpoints (named by file and line)."""
    lines: list[dict[str, Any]] = []
    unreadable: list[str] = []
    for path in paths:
        if not path.exists():
            continue
        for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict) or not isinstance(line.get("server"), str):
                unreadable.append(f"{path}:{number} is not a checkpoint line")
                continue
            lines.append(line)
    return lines, unreadable


def trusted_checkpoints(server: str, lines: list[dict[str, Any]], report: ServerReport) -> list[dict[str, Any]]:
    """`server`'s checkpoints whose signature holds; every bad signature and sequence gap goes in `report`."""
    mine = [line for line in lines if line["server"] == server]
    keys = public_keys(server)
    if mine and not keys:
        report.problems.append(
            f"no public checkpoint key at {public_key_file(server)}: {len(mine)} checkpoints unchecked"
        )
        return []
    trusted: list[dict[str, Any]] = []
    for line in mine:
        where = f"checkpoint {line.get('n')!r} of writer {line.get('writer')!r} (tenant {line.get('tenant')!r})"
        if not well_formed(line):
            report.problems.append(f"MALFORMED {where}")
        elif not is_signed(line, keys):
            report.problems.append(f"BAD SIGNATURE on {where}: not signed by {server}'s key")
        else:
            trusted.append(line)
    by_writer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in trusted:
        by_writer[line["writer"]].append(line)
    for writer, own in by_writer.items():
        own.sort(key=lambda line: line["n"])
        previous, expected = GENESIS, 1
        for line in own:
            if line["n"] != expected or line["prev"] != previous:
                report.problems.append(
                    f"CHECKPOINT GAP in writer {writer}: checkpoint {line['n']} does not follow checkpoint "
                    f"{expected - 1} (a checkpoint line was removed, repeated or reordered)"
                )
                break
            previous, expected = checkpoint_hash(line), expected + 1
    report.checkpoints = len(trusted)
    return trusted


async def verifier_role(engine: AsyncEngine) -> tuple[str, bool]:
    """The verifier's role and whether it sees every tenant's rows (superuser or BYPASSRLS)."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
    return str(row[0]), bool(row[1])


async def verify_server(
    engine: AsyncEngine, server: str, lines: list[dict[str, Any]], remembered: Iterable[dict[str, Any]] = ()
) -> ServerReport:
    """Check `server`'s chains against themselves and against its trusted checkpoints, and those against
    each other and against the newest checkpoints a previous verification `remembered`."""
    report = ServerReport(server)
    checkpoints = trusted_checkpoints(server, lines, report)
    report.problems += dangling_references(checkpoints) + went_back(remembered, checkpoints)
    report.heads = newest_checkpoints(checkpoints)
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in checkpoints:
        by_tenant[line["tenant"]].append(line)
    wanted = {tenant: {line["last_seq"] for line in own} for tenant, own in by_tenant.items()}
    seen: dict[str, int] = defaultdict(int)  # records walked per tenant
    last_seq: dict[str, int] = {}
    at_seq: dict[tuple[str, int], tuple[str, int]] = {}  # (tenant, seq) -> (hash, records up to it)

    def observe(tenant: str, seq: int, row_hash: str) -> None:
        seen[tenant] += 1
        last_seq[tenant] = seq
        if seq in wanted.get(tenant, ()):
            at_seq[(tenant, seq)] = (row_hash, seen[tenant])

    role, sees_all = await verifier_role(engine)
    if not sees_all:
        report.unseen_reason = (
            f"role {role!r} is subject to row-level security (neither superuser nor BYPASSRLS), so it cannot "
            f"see every tenant's rows; only the {len(by_tenant)} tenants named by checkpoints were checked"
        )
    report.records, broken = await verify_chains(
        engine, server, tenants=None if sees_all else sorted(by_tenant), observe=observe
    )
    report.problems += [
        f"BROKEN at tenant {link.tenant_id}, record {link.record_id} (seq {link.seq}): {link.reason}" for link in broken
    ]
    for tenant, own in sorted(by_tenant.items()):
        report.problems += _against_checkpoints(tenant, own, seen.get(tenant, 0), last_seq.get(tenant), at_seq)
    for tenant, count in seen.items():
        # From the newest checkpoint whose record still exists: after a deleted tail, the survivors are covered.
        covered = max((at_seq.get((tenant, line["last_seq"]), ("", 0))[1] for line in by_tenant.get(tenant, [])),
                      default=0)  # fmt: skip
        if count > covered:
            report.uncovered[tenant] = count - covered
    if report.records and not checkpoints:
        report.problems.append(
            f"NOT VERIFIED: no checkpoints: none of its {report.records} records is covered (a new deployment: "
            "run `supplychain audit checkpoint`; otherwise the checkpoint sink is missing or the wrong file)"
        )
    return report


def _against_checkpoints(
    tenant: str,
    checkpoints: list[dict[str, Any]],
    records: int,
    last_seq: int | None,
    at_seq: dict[tuple[str, int], tuple[str, int]],
) -> list[str]:
    """What is wrong with `tenant`'s chain given its checkpoints (the first finding per kind)."""
    newest = max(checkpoints, key=lambda line: line["last_seq"])
    if last_seq is None:
        return [
            f"CHAIN GONE for tenant {tenant}: checkpoints record {newest['records']} records up to seq "
            f"{newest['last_seq']}, but the chain has no records"
        ]
    if last_seq < newest["last_seq"]:
        return [
            f"CHAIN SHORTER for tenant {tenant}: it ends at seq {last_seq} ({records} records), shorter than its "
            f"checkpoint (seq {newest['last_seq']}, {newest['records']} records): records were deleted"
        ]
    for line in sorted(checkpoints, key=lambda line: line["last_seq"]):
        found = at_seq.get((tenant, line["last_seq"]))
        if found is None:
            return [f"RECORD MISSING for tenant {tenant}: seq {line['last_seq']}, named by a checkpoint, is gone"]
        if found[0] != line["last_hash"]:
            return [
                f"HEAD HASH DIFFERS for tenant {tenant}: the record at seq {line['last_seq']} hashes to "
                f"{found[0][:16]}..., its checkpoint says {line['last_hash'][:16]}... (rewritten)"
            ]
        if found[1] != line["records"]:
            return [
                f"RECORD COUNT DIFFERS for tenant {tenant}: {found[1]} records up to seq {line['last_seq']}, "
                f"its checkpoint says {line['records']}"
            ]
    return []
