"""The check every helper of `securemcp.schema` makes before a name goes into DDL (which takes no bind parameters)."""

import re

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
_MAX_LENGTH = 63  # Postgres's identifier limit


def schema_name(schema: str) -> str:
    """`schema` itself if it is a server schema's name (also the prefix of its role `<schema>_svc`), else ValueError."""
    if not _IDENTIFIER.fullmatch(schema) or len(f"{schema}_svc") > _MAX_LENGTH:
        raise ValueError(f"not a server schema name: {schema!r} (lower-case letters, digits and _, at most 59)")
    return schema


def table_name(table: str) -> str:
    """`table` itself if it is a plain lower-case identifier, else ValueError."""
    if not _IDENTIFIER.fullmatch(table) or len(table) > _MAX_LENGTH:
        raise ValueError(f"not a table name: {table!r} (lower-case letters, digits and _)")
    return table
