"""Opaque record ids: a short type prefix and 20 random hex digits (`ro_3f9a...`).

Never sequential, so an id reveals nothing about how many records exist and cannot be guessed from a
neighbour. Fixture ids are derived from a name so seed data is deterministic.
"""

from __future__ import annotations

import hashlib
import secrets

ID_DIGITS = 20


def new_id(prefix: str) -> str:
    """A fresh random id such as `ro_0f3c...`."""
    return f"{prefix}_{secrets.token_hex(ID_DIGITS // 2)}"


def fixture_id(prefix: str, name: str) -> str:
    """A deterministic id for seed data, derived from `name`."""
    return f"{prefix}_{hashlib.sha256(name.encode()).hexdigest()[:ID_DIGITS]}"
