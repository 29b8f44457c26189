"""One checkpoint line: what it holds, the bytes its signature covers, its hash, and whether it is genuine.

Fields (`securemcp.audit.checkpoints` writes them, `securemcp.audit.verify` checks them):
- `server`, `writer`, `n`: whose checkpoint, and its number in that writer's own sequence (1, 2, 3...);
- `tenant`, `last_seq`, `last_hash`, `records`: the chain head it vouches for;
- `at`, `key`: when, and the id of the key that signed it;
- `prev`: the hash of this writer's previous checkpoint (`GENESIS` for its first);
- `after`: the newest checkpoint of the same server that the sink held when this one was appended,
  whichever writer wrote it (`{"writer", "n", "hash"}`), or None when it held none. It links every
  writer's lines into one sequence, so lines removed from the middle of the sink leave a reference
  to nothing. Lines written before it existed have no `after`;
- `sig`: Ed25519 over every other field, as canonical JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
FIELD_TYPES = {
    "writer": str, "n": int, "tenant": str, "last_seq": int, "last_hash": str, "records": int, "prev": str, "key": str,
}  # fmt: skip


def checkpoint_body(line: dict[str, Any]) -> bytes:
    """The signed bytes of a checkpoint: every field but `sig`, as canonical JSON."""
    fields = {name: value for name, value in line.items() if name != "sig"}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def checkpoint_hash(line: dict[str, Any]) -> str:
    """The hash by which later checkpoints name this one (`prev`, `after`)."""
    return hashlib.sha256(checkpoint_body(line)).hexdigest()


def reference(line: dict[str, Any]) -> dict[str, Any]:
    """How a later checkpoint names `line` in its `after` field."""
    return {"writer": line["writer"], "n": line["n"], "hash": checkpoint_hash(line)}


def well_formed(line: dict[str, Any]) -> bool:
    """True when every field has its type (`after` may be absent, None, or a reference)."""
    if not all(isinstance(line.get(name), kind) for name, kind in FIELD_TYPES.items()):
        return False
    after = line.get("after")
    if after is None:
        return True
    return (
        isinstance(after, dict)
        and isinstance(after.get("writer"), str)
        and isinstance(after.get("n"), int)
        and isinstance(after.get("hash"), str)
    )


def is_signed(line: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> bool:
    """True when `line` carries a valid signature by the key its `key` field names, among `keys`."""
    key = keys.get(str(line.get("key")))
    if key is None:  # the line names a key this server never had
        return False
    try:
        key.verify(base64.b64decode(str(line.get("sig", "")), validate=True), checkpoint_body(line))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
