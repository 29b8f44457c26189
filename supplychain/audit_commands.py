"""`supplychain audit verify` and `supplychain audit checkpoint`, as the CLI (`supplychain.cli`) runs them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from securemcp.audit.checkpoint_keys import load_signing_key
from securemcp.audit.checkpoints import CheckpointSettings, CheckpointWriter
from securemcp.audit.verified_heads import VerifiedHeadsError, load_verified_heads, remember, verified_heads_file
from securemcp.audit.verify import (
    ServerReport,
    read_checkpoint_lines,
    trusted_checkpoints,
    verifier_role,
    verify_server,
)
from securemcp.observability.logs import redact
from securemcp.settings import SettingsError
from securemcp.tenancy.database import async_url
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deployment.registry import SERVERS
from supplychain.admin import admin_engine
from supplychain.embedded import admin_url
from supplychain.terminal import echo_lines


def verify(servers: Iterable[str], checkpoint_files: Iterable[Path]) -> bool:
    """Print what `audit verify` finds for each server; True only when every trail is proven intact."""
    files = list(checkpoint_files)
    if not files:
        sink = CheckpointSettings().sink_file()
        if sink is None:
            click.echo("checkpoints go to stdout (SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK): pass --checkpoints FILE "
                       "with your log pipeline's copy; nothing verified")  # fmt: skip
            return False
        files = [sink]
    servers = list(servers)
    lines, unreadable = read_checkpoint_lines(files)
    if set(SERVERS) <= set(servers):  # every server verified: a line naming none of them is not ours
        unknown = [line for line in lines if line["server"] not in SERVERS]
        unreadable += [f"a checkpoint line names an unknown server {line['server']!r}" for line in unknown]
    # Checkpoint lines and audit records are text anyone with the file or a token could have written.
    echo_lines(f"checkpoints: {problem}" for problem in unreadable)
    state = verified_heads_file()
    try:
        remembered = load_verified_heads(state)
    except VerifiedHeadsError as failure:  # fail closed: without it, an older sink put back would pass
        echo_lines([f"NOT VERIFIED: the heads verified before: {failure}; restore it from its backup, or move "
                    "it aside to start again from this verification"])  # fmt: skip
        return False
    reports = asyncio.run(_verify_all(servers, lines, remembered))
    for report in reports:
        _print(report)
        if report.intact and report.heads:
            remember(state, report.server, report.heads)
        elif any(problem.startswith("SINK WENT BACK") for problem in report.problems):
            echo_lines([f"{report.server}: the heads verified before are kept in {state}"])
    return not unreadable and all(report.intact for report in reports)


async def _verify_all(
    servers: list[str], lines: list[dict[str, Any]], remembered: dict[str, list[dict[str, Any]]]
) -> list[ServerReport]:
    engine = admin_engine(admin_url())
    reports = []
    try:
        for server in servers:
            try:
                reports.append(await verify_server(engine, server, lines, remembered.get(server, [])))
            except Exception as failure:  # a role without SELECT, a schema that is gone: said, not traced
                failed = ServerReport(server)
                failed.problems.append(f"NOT VERIFIED: the audit log could not be read ({_first_line(failure)})")
                reports.append(failed)
    finally:
        await engine.dispose()
    return reports


def _print(report: ServerReport) -> None:
    name = report.server
    lines = [f"{name}: {problem}" for problem in report.problems]
    if report.unseen_reason is not None:
        lines.append(f"{name}: NOT VERIFIED: {report.unseen_reason}")
    elif not report.problems:
        lines.append(
            f"{name}: {report.records} records, every chain intact and matching its {report.checkpoints} checkpoints"
        )
    if report.uncovered:
        counts = ", ".join(f"{tenant} {count}" for tenant, count in sorted(report.uncovered.items()))
        lines.append(f"{name}: {sum(report.uncovered.values())} records newer than the last checkpoint, "
                     f"not yet covered ({counts})")  # fmt: skip
    echo_lines(lines)  # problems quote tenant ids, record ids and checkpoint fields as stored


def checkpoint(servers: Iterable[str]) -> None:
    """Sign and append a checkpoint of every tenant's chain head of each server, now."""
    try:
        asyncio.run(_checkpoint_all(list(servers)))
    except SettingsError as failure:  # no signing key here, or a key that does not match its public key
        raise click.ClickException(str(failure)) from None


async def _checkpoint_all(servers: list[str]) -> None:
    settings = CheckpointSettings()
    sink = settings.sink_file()
    lines, _unreadable = read_checkpoint_lines([sink]) if sink is not None else ([], [])
    # Only loaded, never made: a fresh key here would sign checkpoints `audit verify` refuses forever.
    keys = {server: load_signing_key(server) for server in servers}
    # Not the autocommit admin engine: each head is read in a transaction scoped to its tenant.
    engine = create_async_engine(async_url(admin_url()), pool_size=1, max_overflow=0)
    try:
        role, sees_all = await verifier_role(engine)
        for server in servers:
            if sees_all:
                async with engine.connect() as connection:
                    found = await connection.execute(text(f"SELECT DISTINCT tenant_id FROM {server}.audit_log"))  # noqa: S608
                    tenants = [str(row[0]) for row in found]
            else:
                known = trusted_checkpoints(server, lines, ServerReport(server))
                tenants = sorted({str(line["tenant"]) for line in known})
                click.echo(f"{server}: role {role!r} is subject to row-level security: only the {len(tenants)} "
                           "tenants named by earlier checkpoints can be checkpointed")  # fmt: skip
            writer = CheckpointWriter(server, key=keys[server], sink_file=sink, role="cli")
            written = await writer.checkpoint(engine, tenants)
            where = sink if sink is not None else "stdout"
            click.echo(f"{server}: {len(written)} checkpoints signed and appended to {where}", err=sink is None)
    finally:
        await engine.dispose()


def _first_line(failure: Exception) -> str:
    message = str(getattr(failure, "orig", None) or failure).strip().splitlines()
    return redact(f"{type(failure).__name__}: {message[0] if message else ''}")
