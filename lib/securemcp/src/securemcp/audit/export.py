"""The audit trail for a SIEM: every committed record also leaves as one JSON line, with its hashes.

Off unless `SUPPLYCHAIN_AUDIT_EXPORT` names a sink: `stdout`, or the path of a file that is appended
to (created 0600). A line is the record exactly as it was hashed and stored (arguments redacted,
`prev_hash` and `hash` included), so a SIEM can re-check each tenant's chain with
`securemcp.audit.chain.record_hash`. It carries no token: records name a token by its id only, and no stored
string is long enough to hold a whole token (`securemcp.audit.records.MAX_STRING`).

Lines are written after their records commit, in commit order per tenant. Over stdio, stdout carries
the MCP messages, so `stdout` is refused there (the server does not start). A line that cannot be
written is logged and dropped: the database stays the record of truth, and the export never fails
a call.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from securemcp.settings import SettingsError

logger = logging.getLogger(__name__)

_sink: TextIO | None = None


def configure_export(target: str | None, *, transport: str) -> None:
    """Open the sink `target` names (`stdout` or a file path) for this process; None leaves export off."""
    global _sink
    if not target or _sink is not None:
        return
    if target == "stdout":
        if transport == "stdio":
            raise SettingsError("SUPPLYCHAIN_AUDIT_EXPORT=stdout: over stdio, stdout carries MCP messages; name a file")
        _sink = sys.stdout
        return
    path = Path(target)
    if not path.is_absolute():
        raise SettingsError(f"SUPPLYCHAIN_AUDIT_EXPORT={target!r}: give 'stdout' or an absolute file path")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    _sink = os.fdopen(descriptor, "a", encoding="utf-8", buffering=1)  # line-buffered: one write per line


def export_records(rows: Iterable[dict[str, Any]]) -> None:
    """Write committed `rows` to the sink, one JSON line each (nothing when export is off)."""
    if _sink is None:
        return
    try:
        for row in rows:
            _sink.write(json.dumps(row, default=str, sort_keys=True) + "\n")
        _sink.flush()
    except (OSError, ValueError):
        logger.exception("audit export failed; the records are in the database")


def close_export() -> None:
    """Stop exporting (a file sink is closed)."""
    global _sink
    sink, _sink = _sink, None
    if sink is not None and sink is not sys.stdout:
        sink.close()
