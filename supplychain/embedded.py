"""The embedded Postgres (`pgserver`), and where the admin credential comes from.

Order of choice: `SUPPLYCHAIN_ADMIN_DATABASE_URL` (an existing Postgres you run) → the embedded
server under `$SUPPLYCHAIN_HOME/pgdata`. The embedded server listens on a Unix socket only (no TCP
port to reach from elsewhere). It is left running after the command that started it exits, so
`db start` and `db stop` work as a pair. `demo` is the exception: it stops the cluster it started
unless given `--keep` (`demo.cli`).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from securemcp.settings import home_dir
from sqlalchemy.engine import make_url

APP_DATABASE = "supplychain"


def pgdata_dir() -> Path:
    """Data directory of the embedded cluster."""
    return home_dir() / "pgdata"


def external_admin_url() -> str | None:
    """The admin DSN of a Postgres the user runs, if one is configured."""
    return os.environ.get("SUPPLYCHAIN_ADMIN_DATABASE_URL") or None


def _pgserver() -> Any:
    """The pgserver module, imported late: it is only needed when the embedded server is used."""
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def _server() -> Any:
    # cleanup_mode=None leaves the server running when this process exits.
    return _pgserver().get_server(pgdata_dir(), cleanup_mode=None)


def start_embedded() -> str:
    """Start (or reuse) the embedded cluster and return its admin URL for the app database."""
    pgdata_dir().parent.mkdir(parents=True, exist_ok=True)
    server = _server()
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{APP_DATABASE}';")  # noqa: S608 (a constant)
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {APP_DATABASE};")
    return make_url(server.get_uri()).set(database=APP_DATABASE).render_as_string(hide_password=False)


def _pg_ctl(*args: str) -> bool:
    """Run pgserver's own pg_ctl on the data directory; True when it succeeds."""
    pgserver = _pgserver()
    # As root, pgserver runs Postgres as its own system user; pg_ctl must run as that user too.
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    # A failure is an answer here ("status": not running), not an error for pgserver to log at length.
    logger = logging.getLogger("pgserver")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        pgserver.pg_ctl(list(args), pgdata=pgdata_dir(), user=user)
    except subprocess.CalledProcessError:
        return False
    finally:
        logger.setLevel(level)
    return True


def embedded_status() -> str:
    """'running' or 'stopped', read from the data directory without starting anything."""
    if not (pgdata_dir() / "PG_VERSION").exists():
        return "stopped"
    return "running" if _pg_ctl("status") else "stopped"


def stop_embedded() -> None:
    """Stop the embedded cluster if it runs."""
    if embedded_status() == "running":
        _pg_ctl("-w", "stop", "-m", "fast")


def admin_url(*, start: bool = True) -> str:
    """The admin DSN: the configured external one, else the embedded cluster (started if asked)."""
    external = external_admin_url()
    if external:
        return external
    if not start and embedded_status() != "running":
        raise RuntimeError("the embedded database is not running: run `supplychain db start`")
    return start_embedded()


def is_embedded(url: str) -> bool:
    """True when `url` points at the embedded cluster's socket directory."""
    host = make_url(url).query.get("host")
    return isinstance(host, str) and Path(host).resolve().is_relative_to(pgdata_dir().parent.resolve())


class NotEmbeddedError(RuntimeError):
    """The data directory is not an embedded cluster's: nothing is deleted."""


def delete_embedded() -> Path:
    """Stop the embedded cluster and delete its data directory; returns where it was.

    Refuses a directory that is not a Postgres data directory (no `PG_VERSION`) rather than delete
    whatever `$SUPPLYCHAIN_HOME` happens to point at.
    """
    pgdata = pgdata_dir()
    if not pgdata.exists():
        return pgdata
    if not (pgdata / "PG_VERSION").is_file():
        raise NotEmbeddedError(f"{pgdata} is not a Postgres data directory (no PG_VERSION): not deleting it")
    if embedded_status() == "running" and not _pg_ctl("-w", "stop", "-m", "fast"):
        raise NotEmbeddedError(f"the cluster in {pgdata} did not stop: not deleting it")
    shutil.rmtree(pgdata)
    # pgserver keeps one handle per data directory in the process: a stale one would skip initdb.
    _pgserver().PostgresServer._instances.pop(pgdata.resolve(), None)
    return pgdata
