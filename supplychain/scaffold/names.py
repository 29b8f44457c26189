"""Which names a new server may take, and why a name is refused.

A server's name becomes many things at once: the package `servers/<name>`, the Postgres schema and
its role `<name>_svc`, the scope prefix `<name>:`, the settings prefix `SUPPLYCHAIN_<NAME>_` and
the class `<Name>Settings`. A name must be safe as each of them, so the rules below are what those
uses need, each with its reason in the message.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS

from migrations import META_SCHEMA

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_LENGTH = 30

# Variables the whole deployment reads, after `SUPPLYCHAIN_`. A server's settings refuse any unknown
# variable under their prefix, so a server named `read` would refuse to start whenever
# `SUPPLYCHAIN_READ_ONLY` is set; a prefix ending in `_` is a family whose own settings refuse strangers.
DEPLOYMENT_VARIABLES = (
    "ADMIN_DATABASE_URL",
    "APPROVAL_",
    "AUDIT_",
    "FUZZ_PROFILE",
    "GATEWAY_",
    "HOME",
    "IDEMPOTENCY_TTL_HOURS",
    "IDP_",
    "LOG_LEVEL",
    "READ_ONLY",
    "REVIEW_",
    "SERVE_WORKER_SERVER",
    "TEST_DATABASE_URL",
    "TRUSTED_ISSUERS_FILE",
    "UPDATE_SNAPSHOTS",
    "WRITE_SCREENSHOTS",
)

# Names taken by the code around the servers: commands (`serve all`), schemas, packages.
RESERVED = {
    "all": "`supplychain serve all` means every server",
    "audit": "`audit:read` is the auditors' scope on every server",
    "public": "Postgres' default schema",
    "information_schema": "a Postgres system schema",
    "shared": "the security library's package",
    "servers": "the package that holds the servers",
    "tenants": "fixtures/tenants.py holds the fixture tenants and users",
}


# The application shell's package, and the prefix of its own roles and schemas (`supplychain_owner`,
# the Alembic schema `supplychain_meta`): a server named like them would take their place.
SHELL_PREFIX = "supplychain"


class ScaffoldError(ValueError):
    """What the scaffold refuses to do, and why; it has written nothing."""


def check_name(name: str, existing: Iterable[str]) -> None:
    """Raise `ScaffoldError` unless `name` is free and safe for a package, a schema, a role, scopes and settings."""
    taken = set(existing)
    if not NAME_PATTERN.match(name):
        raise ScaffoldError(
            f"{name!r} is not a valid server name: use lower-case letters, digits and single underscores, "
            "starting with a letter (it names a Python package, a Postgres schema and scopes), e.g. 'procurement'"
        )
    if len(name) > MAX_LENGTH:
        raise ScaffoldError(f"{name!r} is too long: at most {MAX_LENGTH} characters (it names Postgres roles too)")
    if name in taken:
        raise ScaffoldError(f"{name!r} is already a server (deployment/registry.py); pick another name")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ScaffoldError(f"{name!r} is a Python keyword: `import servers.{name}` would not parse")
    if name in RESERVED_WORDS:
        raise ScaffoldError(f"{name!r} is an SQL reserved word: it cannot name a Postgres schema unquoted")
    if name in RESERVED:
        raise ScaffoldError(f"{name!r} is reserved: {RESERVED[name]}")
    if name.startswith("pg_"):
        raise ScaffoldError(f"{name!r} is reserved: Postgres reserves schema names starting with pg_")
    if name == SHELL_PREFIX or name.startswith(f"{SHELL_PREFIX}_"):
        raise ScaffoldError(
            f"{name!r} is reserved: `{SHELL_PREFIX}` and every `{SHELL_PREFIX}_*` name belong to the application "
            f"shell (its package, its roles such as {SHELL_PREFIX}_owner, and the Alembic schema {META_SCHEMA})"
        )
    prefix = f"{name.upper()}_"
    for variable in DEPLOYMENT_VARIABLES:
        if variable.startswith(prefix) or (variable.endswith("_") and prefix.startswith(variable)):
            raise ScaffoldError(
                f"{name!r} would clash with the deployment setting SUPPLYCHAIN_{variable}"
                f"{'*' if variable.endswith('_') else ''}: its settings prefix SUPPLYCHAIN_{prefix} overlaps it"
            )
    for other in sorted(taken):
        if name.startswith(f"{other}_") or other.startswith(f"{name}_"):
            raise ScaffoldError(
                f"{name!r} would clash with server {other!r}: the settings prefixes SUPPLYCHAIN_{prefix} and "
                f"SUPPLYCHAIN_{other.upper()}_ overlap, and each server refuses the other's variables as unknown"
            )
