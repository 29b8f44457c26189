"""`supplychain db reset`: delete the embedded cluster and make it again, initialised and seeded.

Only the embedded cluster (`$SUPPLYCHAIN_HOME/pgdata`) is ever deleted. With
`SUPPLYCHAIN_ADMIN_DATABASE_URL` set, the database is one the user runs (or another server
altogether): reset refuses, and dropping its schemas stays the user's own, deliberate step.

The servers' credentials and audit checkpoint keys are kept (`db init` reuses the passwords). The
default checkpoint file is moved aside, not deleted: its checkpoints name chains the reset deleted, so
`audit verify` would report every one of them missing, while the file stays evidence of what was there.
So are the heads `audit verify` remembers (`securemcp.audit.verified_heads`): they name checkpoints of
that file, and the new sink would otherwise be reported as gone back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from securemcp.audit.checkpoints import default_sink_file
from securemcp.audit.verified_heads import verified_heads_file
from sqlalchemy.engine import make_url

from supplychain.embedded import external_admin_url, is_embedded, pgdata_dir


def refusal() -> str | None:
    """Why `db reset` must not run here, or None when the database is the embedded cluster."""
    external = external_admin_url()
    if external is None:
        return None
    where = "the embedded cluster's socket" if is_embedded(external) else _host(external)
    return (
        f"SUPPLYCHAIN_ADMIN_DATABASE_URL is set ({where}): db reset deletes only the embedded cluster in "
        f"{pgdata_dir()}, never a database named by a DSN; unset it to reset the embedded cluster"
    )


def set_checkpoints_aside() -> Path | None:
    """Move the default checkpoint file to `<name>.before-reset-<UTC time>`; the new name, or None if there was none."""
    return _set_aside(default_sink_file())


def set_verified_heads_aside() -> Path | None:
    """Move the heads `audit verify` remembers aside, as the checkpoints: they name checkpoints of the old sink."""
    return _set_aside(verified_heads_file())


def _set_aside(path: Path) -> Path | None:
    if not path.exists():
        return None
    kept = path.with_name(f"{path.name}.before-reset-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    path.rename(kept)
    return kept


def _host(url: str) -> str:
    parsed = make_url(url)
    host = parsed.host or str(parsed.query.get("host") or "a local socket")
    return f"host {host}" + (f", port {parsed.port}" if parsed.port else "")
