"""What `audit verify` remembers between runs: per server, the newest checkpoints it has verified.

Why: checkpoints name the ones before them (`securemcp.audit.checkpoint_links`), so lines removed from
the middle of the sink are found; but nothing names the newest ones. Put an older copy of the sink
back (or cut its newest lines) and cut the database's tail to match, and the sink and the database
agree again. Only a record kept outside both can tell: this file, written by the operator's own
`audit verify`.

What: a JSON object, per server the newest checkpoints (writer, number, hash, tenant, seq, time) of
its last verification that found everything intact, and when that was. It is written only then, per
server, atomically (a new file renamed into place). On the next run every one of them must still be
among the sink's genuine checkpoints; one that is not is named as `SINK WENT BACK`. Since every other
checkpoint is named by a newer one, their presence vouches for every line verified before.

Where: `$SUPPLYCHAIN_HOME/audit/verified-heads.json` of whoever runs `audit verify`, or the file
`SUPPLYCHAIN_AUDIT_VERIFIED_HEADS` names. Keep it as the sink's backups are kept: where neither the
servers nor the database's superuser can write, backed up, and never restored together with an
older sink. A lost file loses only this check, until the next verification; a file that cannot be
read fails `audit verify` until it is restored or deliberately moved aside.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from securemcp.audit.checkpoint_lines import checkpoint_hash
from securemcp.settings import home_dir

Heads = list[dict[str, Any]]


class VerifiedHeadsError(Exception):
    """The verified-heads file exists but cannot be read as one."""


def verified_heads_file() -> Path:
    """`SUPPLYCHAIN_AUDIT_VERIFIED_HEADS`, else `$SUPPLYCHAIN_HOME/audit/verified-heads.json`."""
    named = os.environ.get("SUPPLYCHAIN_AUDIT_VERIFIED_HEADS")
    return Path(named) if named else home_dir() / "audit" / "verified-heads.json"


def load_verified_heads(path: Path) -> dict[str, Heads]:
    """The remembered heads by server; {} before the first verification; `VerifiedHeadsError` if unreadable."""
    try:
        stored = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as failure:
        raise VerifiedHeadsError(f"{path} cannot be read ({failure})") from None
    fields = {"writer": str, "n": int, "hash": str, "tenant": str, "last_seq": int}
    if not isinstance(stored, dict) or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("heads"), list)
        and all(isinstance(head, dict) and all(isinstance(head.get(k), t) for k, t in fields.items())
                for head in entry["heads"])
        for entry in stored.values()
    ):  # fmt: skip
        raise VerifiedHeadsError(f"{path} is not a verified-heads file")
    return {server: entry["heads"] for server, entry in stored.items()}


def remember(path: Path, server: str, heads: Heads) -> None:
    """Replace `server`'s remembered heads with `heads`, keeping every other server's."""
    try:
        stored = json.loads(path.read_bytes())
    except FileNotFoundError:
        stored = {}
    stored[server] = {"verified_at": datetime.now(UTC).isoformat(), "heads": heads}
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    with draft.open("w", encoding="utf-8") as handle:
        json.dump(stored, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    draft.replace(path)  # whole or not at all: a crash leaves the previous file


def went_back(remembered: Iterable[dict[str, Any]], trusted: list[dict[str, Any]]) -> list[str]:
    """A finding for each remembered head that is not among `trusted` (one server's genuine checkpoints)."""
    present = {checkpoint_hash(line) for line in trusted}
    return [
        f"SINK WENT BACK: checkpoint {head['n']} of writer {head['writer']} ({head['hash'][:16]}..., tenant "
        f"{head['tenant']}, seq {head['last_seq']}), verified before, is not among the checkpoints: an older "
        "sink was restored or its newest lines were removed"
        for head in remembered
        if head["hash"] not in present
    ]
