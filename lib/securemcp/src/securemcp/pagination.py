"""Keyset pagination with opaque cursors.

A cursor carries only the last key of the previous page. It is opaque to clients (base64 of JSON) but
not secret: every query still filters by tenant, so a forged cursor can only skip rows of the
caller's own tenant.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from pydantic import Field

from securemcp.errors import InvalidInputError

PageLimit = Annotated[int, Field(ge=1, le=100, description="Page size, at most 100.")]
Cursor = Annotated[
    str | None,
    Field(max_length=256, pattern=r"^[A-Za-z0-9_-]+$", description="next_cursor of the previous page"),
]


T = TypeVar("T")


KEY_SEPARATOR = "|"  # never valid inside the ids and codes that make up keys


def encode_cursor(*last_key: str) -> str:
    """The cursor that continues after the row whose sort key is `last_key`."""
    after = KEY_SEPARATOR.join(last_key)
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, parts: int = 1) -> tuple[str, ...] | None:
    """The key a cursor continues after (`parts` strings), or None for the first page.

    A cursor that does not decode to exactly that shape raises `InvalidInputError`.
    """
    if cursor is None:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidInputError(f"malformed cursor {cursor!r}") from None
    if not isinstance(after, str) or len(after) > 200 or after.count(KEY_SEPARATOR) != parts - 1:
        raise InvalidInputError(f"malformed cursor {cursor!r}")
    return tuple(after.split(KEY_SEPARATOR))


def split_page(rows: Sequence[T], *, limit: int, key_of: Callable[[T], tuple[str, ...]]) -> tuple[list[T], str | None]:
    """Split `limit + 1` fetched rows into this page and the cursor for the next (None if last)."""
    if len(rows) > limit:
        return list(rows[:limit]), encode_cursor(*key_of(rows[limit - 1]))
    return list(rows), None
