"""Signed checkpoints of every tenant's audit chain head, kept outside the database.

Why: the hash chain (`securemcp.audit.records`) shows an edited record, but not a deleted tail or a deleted
chain: every record points back, and nothing remembered where a chain ended. A checkpoint does.

What: one JSON line per tenant and server: tenant, last sequence number, last record hash, record
count, time, the writer's previous checkpoint's hash, the newest checkpoint before it in the sink, and
an Ed25519 signature over the rest (canonical JSON; `securemcp.audit.checkpoint_lines`). The key is
a secret file the database never sees (`securemcp.audit.checkpoint_keys`); `supplychain audit verify`
checks the lines (`securemcp.audit.verify`).

When: a server process checkpoints the tenants it wrote records for, every
`SUPPLYCHAIN_AUDIT_CHECKPOINT_INTERVAL_SECONDS` (60) while there are new ones, and at clean shutdown;
`supplychain audit checkpoint` does every tenant now. Nothing of this runs on a call's path: a call
only adds its tenant to an in-memory set (`note_written`); reading heads, signing and fsync run in a
background task.

Where: appended and fsynced to `$SUPPLYCHAIN_HOME/audit/checkpoints.jsonl`; or, with
`SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK=stdout` or `=/absolute/file`, to a log pipeline.

Replicas and workers never fork each other's sequence: there is no shared sequence. Each process is
its own *writer* (`<server>/<host>/<pid>/<random>`), numbers its own checkpoints 1, 2, 3... and chains
each to its own previous one. Two replicas checkpointing the same tenant both anchor the same chain;
`audit verify` checks every checkpoint of every writer against the chain, and each writer's numbers
and previous-checkpoint hashes for gaps. Across writers, each checkpoint also names the newest one of
its server that the sink held when it was appended (`after`, read under the lock every append takes:
`securemcp.audit.checkpoint_sink`), so removing one writer's lines leaves a reference to nothing that
`audit verify` names. On stdout nothing can be read back: `after` is then the writer's own previous.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from securemcp.audit.checkpoint_keys import ensure_signing_key, key_id
from securemcp.audit.checkpoint_lines import GENESIS, checkpoint_body, checkpoint_hash, reference
from securemcp.audit.checkpoint_sink import CheckpointSink
from securemcp.settings import SettingsError, home_dir, reject_unknown_variables

SHUTDOWN_FLUSH_SECONDS = 10.0
logger = logging.getLogger(__name__)


class CheckpointSettings(BaseSettings):
    """`SUPPLYCHAIN_AUDIT_CHECKPOINT_INTERVAL_SECONDS` (60) and `..._SINK` (`file`, `stdout`, or a path)."""

    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_AUDIT_CHECKPOINT_", extra="forbid", frozen=True)

    interval_seconds: float = Field(default=60.0, ge=0.05, le=3600)
    sink: str = "file"

    def __init__(self, **values: Any) -> None:
        reject_unknown_variables("SUPPLYCHAIN_AUDIT_CHECKPOINT_", type(self).model_fields)
        super().__init__(**values)

    @field_validator("sink")
    @classmethod
    def _known_sink(cls, value: str) -> str:
        if value not in ("file", "stdout") and not Path(value).is_absolute():
            raise ValueError(f"SINK must be 'file', 'stdout' or an absolute path, not {value!r}")
        return value

    def check_transport(self, transport: str) -> None:
        """Refuse checkpoints on stdout where stdout carries the MCP messages."""
        if self.sink == "stdout" and transport == "stdio":
            raise SettingsError(
                "SUPPLYCHAIN_AUDIT_CHECKPOINT_SINK=stdout is refused over stdio: stdout is the MCP channel"
            )

    def sink_file(self) -> Path | None:
        """The file checkpoints are appended to; None when they go to stdout."""
        if self.sink == "stdout":
            return None
        return default_sink_file() if self.sink == "file" else Path(self.sink)


def default_sink_file() -> Path:
    """`$SUPPLYCHAIN_HOME/audit/checkpoints.jsonl`."""
    return home_dir() / "audit" / "checkpoints.jsonl"


@dataclass(frozen=True)
class ChainHead:
    """Where one tenant's chain ends: its last record and how many records it holds."""

    tenant: str
    last_seq: int
    last_hash: str
    records: int


async def read_head(engine: AsyncEngine, schema: str, tenant: str, since: ChainHead | None = None) -> ChainHead | None:
    """`tenant`'s chain head under its own tenant setting (row-level security applies); None if empty.

    Counts only the records after `since` (a head this writer read before): a tenant's committed
    records always form a prefix in `seq` order, since each is inserted under the tenant's chain lock.
    """
    async with engine.connect() as connection, connection.begin():
        await connection.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant})
        last = (
            await connection.execute(
                text(f"SELECT seq, hash FROM {schema}.audit_log WHERE tenant_id = :t ORDER BY seq DESC LIMIT 1"),  # noqa: S608
                {"t": tenant},
            )
        ).first()
        if last is None:
            return None
        if since is not None and since.last_seq > last.seq:
            since = None  # shorter than this writer last saw: count afresh (verify names the loss)
        after = since.last_seq if since is not None else 0
        added = (
            await connection.execute(
                text(f"SELECT count(*) FROM {schema}.audit_log WHERE tenant_id = :t AND seq > :s AND seq <= :l"),  # noqa: S608
                {"t": tenant, "s": after, "l": last.seq},
            )
        ).scalar_one()
    return ChainHead(tenant, int(last.seq), str(last.hash), (since.records if since else 0) + int(added))


class CheckpointWriter:
    """One writer: signs checkpoints of `server`'s chains and appends them to the sink, in its own sequence."""

    def __init__(self, server: str, *, key: Ed25519PrivateKey, sink_file: Path | None, role: str = "server") -> None:
        self.server = server
        self.key = key
        self.key_id = key_id(key.public_key())
        self.sink_file = sink_file
        self.writer_id = f"{server}/{role}/{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self.number = 0
        self.previous = GENESIS
        self.newest: dict[str, Any] | None = None  # the newest checkpoint of `server` known here (own or read)
        self.heads: dict[str, ChainHead] = {}  # the last head this writer signed, per tenant
        self._sink = CheckpointSink(sink_file, server, key.public_key()) if sink_file is not None else None
        self._lock = asyncio.Lock()

    async def checkpoint(self, engine: AsyncEngine, tenants: Iterable[str]) -> list[dict[str, Any]]:
        """Read each tenant's head, sign a checkpoint of each that has records, append them; returns them."""
        async with self._lock:
            heads = []
            for tenant in sorted(set(tenants)):
                head = await read_head(engine, self.server, tenant, self.heads.get(tenant))
                if head is not None:
                    heads.append(head)
            if not heads:
                return []
            lines = await asyncio.to_thread(self._sign_and_append, heads)
            # Only once the lines are durable: a failed append leaves the sequence where it was.
            self.number, self.previous, self.newest = lines[-1]["n"], checkpoint_hash(lines[-1]), reference(lines[-1])
            self.heads.update((head.tenant, head) for head in heads)
            return lines

    def _sign_and_append(self, heads: list[ChainHead]) -> list[dict[str, Any]]:
        if self._sink is not None:
            # Signed under the sink's lock: `after` is the newest line appended since this writer last
            # looked, or else the newest it already knew (its own, or one it read before).
            return self._sink.append(lambda newest: self._sign(heads, after=newest or self.newest))
        lines = self._sign(heads, after=self.newest)
        sys.stdout.buffer.write("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode())
        sys.stdout.buffer.flush()
        return lines

    def _sign(self, heads: list[ChainHead], *, after: dict[str, Any] | None) -> list[dict[str, Any]]:
        lines, number, previous = [], self.number, self.previous
        for head in heads:
            number += 1
            line: dict[str, Any] = {
                "server": self.server,
                "writer": self.writer_id,
                "n": number,
                "tenant": head.tenant,
                "last_seq": head.last_seq,
                "last_hash": head.last_hash,
                "records": head.records,
                "at": datetime.now(UTC).isoformat(),
                "prev": previous,
                "after": after,
                "key": self.key_id,
            }
            line["sig"] = base64.b64encode(self.key.sign(checkpoint_body(line))).decode()
            previous, after = checkpoint_hash(line), reference(line)
            lines.append(line)
        return lines


_written: dict[str, set[str]] = {}  # schema -> tenants with records not yet checkpointed by this process


def note_written(schema: str, tenants: Iterable[str]) -> None:
    """Remember that `tenants` got records in `schema` (the only thing a call does for checkpoints)."""
    _written.setdefault(schema, set()).update(tenants)


def _take_written(schema: str) -> set[str]:
    return _written.pop(schema, set())


async def flush(writer: CheckpointWriter, engine: AsyncEngine) -> None:
    """Checkpoint the tenants written since the last flush; on failure, keep them for the next one."""
    tenants = _take_written(writer.server)
    if not tenants:
        return
    try:
        await writer.checkpoint(engine, tenants)
    except BaseException as failure:
        note_written(writer.server, tenants)  # cancelled or failed: the next flush takes them again
        if not isinstance(failure, Exception):
            raise
        logger.warning("audit checkpoint of %s failed; retrying at the next interval", writer.server, exc_info=True)


@contextlib.asynccontextmanager
async def checkpointing(server: str, engine: AsyncEngine, *, transport: str) -> AsyncIterator[CheckpointWriter]:
    """For a server's lifespan: checkpoint written tenants every interval in the background, and at exit."""
    settings = CheckpointSettings()
    settings.check_transport(transport)
    writer = CheckpointWriter(server, key=ensure_signing_key(server), sink_file=settings.sink_file())

    async def every_interval() -> None:
        while True:
            await asyncio.sleep(settings.interval_seconds)
            await flush(writer, engine)

    task = asyncio.create_task(every_interval())
    try:
        yield writer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:  # clean shutdown: what was written since the last interval, bounded so shutdown cannot hang
            await asyncio.wait_for(flush(writer, engine), timeout=SHUTDOWN_FLUSH_SECONDS)
        except TimeoutError:
            logger.warning("audit checkpoint of %s at shutdown timed out", server)
