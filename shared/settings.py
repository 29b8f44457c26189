"""Settings: one class per server, each with its own environment prefix.

A server reads only its own database credential (`SUPPLYCHAIN_<SERVER>_DATABASE_URL`, or a file named
by `..._DATABASE_URL_FILE`, or its own secrets file written by `supplychain db init`). It never sees
the admin credential or another server's. Unknown variables under a server's prefix are an error at
start-up, so a typo never silently leaves a control at its default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """Configuration that the server refuses to start with."""


def home_dir() -> Path:
    """Local state folder: embedded Postgres, generated secrets, dev keys (`$SUPPLYCHAIN_HOME`)."""
    return Path(os.environ.get("SUPPLYCHAIN_HOME", ".supplychain")).resolve()


def secrets_dir() -> Path:
    """Where `db init` writes one credential file per server (mode 0600)."""
    return home_dir() / "secrets"


def server_dsn_file(server: str) -> Path:
    """The default secrets file that holds `server`'s own database URL."""
    return secrets_dir() / f"{server}.dsn"


class ServerSettings(BaseSettings):
    """What every server needs; each server subclasses it with its own `env_prefix`."""

    server_name: ClassVar[str] = ""
    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    database_url: SecretStr | None = None
    database_url_file: Path | None = None
    pool_size: int = Field(default=5, ge=1, le=50)
    pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    read_only: bool = False

    def __init__(self, **values: Any) -> None:
        self._reject_unknown_variables()
        super().__init__(**values)

    @classmethod
    def _reject_unknown_variables(cls) -> None:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        if prefix:
            known = {f"{prefix}{name}".upper() for name in cls.model_fields}
            unknown = sorted(key for key in os.environ if key.upper().startswith(prefix) and key.upper() not in known)
            if unknown:
                raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")

    def resolved_database_url(self) -> str:
        """This server's own DSN: explicit value, then `_FILE`, then its secrets file from `db init`."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        path = self.database_url_file or server_dsn_file(self.server_name)
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise SettingsError(
                f"no database credential for {self.server_name}: run `supplychain db init`, or set "
                f"{self.model_config.get('env_prefix', '')}DATABASE_URL or ..._DATABASE_URL_FILE"
            ) from None
