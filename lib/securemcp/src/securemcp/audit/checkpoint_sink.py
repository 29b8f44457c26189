"""The checkpoint sink file: each writer appends under a lock, after reading what others appended under it.

Many writers (the processes of every server, and `supplychain audit checkpoint`) append to one file,
each under an exclusive `flock`. Still holding it, a writer first reads back, from the end, the lines
appended since it last looked, and takes the newest genuine checkpoint of its own server there: the
`after` of the lines it then appends (`securemcp.audit.checkpoint_lines`). Since every append happens
under the same lock, each line names the one before it, and a server's checkpoints form one sequence
in the file whichever writer wrote them.

Reading back costs only the lines appended since the writer's previous look (its first look reads
back until it meets one of its server's lines). A line it cannot check (another server's, a forged
one, one signed by a key not among the server's public keys) is passed over, never named.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from securemcp.audit.checkpoint_keys import key_id, public_keys
from securemcp.audit.checkpoint_lines import is_signed, reference, well_formed

CHUNK_BYTES = 64 * 1024

Lines = list[dict[str, Any]]


class CheckpointSink:
    """One writer's handle on a sink file shared with other writers and servers."""

    def __init__(self, path: Path, server: str, own_key: Ed25519PublicKey) -> None:
        self.path = path
        self.server = server
        self._keys = {key_id(own_key): own_key}
        self._read_to = (0, 0)  # (inode, offset): how far this writer has read or written the file

    def append(self, sign_after: Callable[[dict[str, Any] | None], Lines]) -> Lines:
        """Under the lock: find the newest checkpoint of the server appended since the last look, sign
        the lines to follow it (`sign_after` gets its reference, or None when there is none), append
        and fsync them; returns them."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # other writers' lines stay whole, and none comes between
            status = os.fstat(descriptor)
            inode, start = self._read_to
            if inode != status.st_ino or start > status.st_size:
                start = 0  # not the file this writer last saw (replaced, restored, rotated): read it afresh
            lines = sign_after(self._newest(descriptor, start, status.st_size))
            payload = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
            os.write(descriptor, payload)
            os.fsync(descriptor)
            self._read_to = (status.st_ino, status.st_size + len(payload))
            return lines
        finally:
            os.close(descriptor)

    def _newest(self, descriptor: int, start: int, end: int) -> dict[str, Any] | None:
        """The reference of the last genuine checkpoint of the server between `start` and `end`, if any."""
        reloaded = False
        for raw in _lines_backwards(descriptor, start, end):
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not (isinstance(line, dict) and line.get("server") == self.server and well_formed(line)):
                continue
            if line["key"] not in self._keys and not reloaded:  # a key made after this writer started (a rotation)
                self._keys |= public_keys(self.server)
                reloaded = True
            if is_signed(line, self._keys):
                return reference(line)
        return None


def _lines_backwards(descriptor: int, start: int, end: int) -> Iterator[bytes]:
    """The non-empty lines between `start` and `end` (both line boundaries), last first, read a chunk at a time."""
    rest = b""  # the beginning of a line whose start lies further back
    position = end
    while position > start:
        size = min(CHUNK_BYTES, position - start)
        position -= size
        pieces = (os.pread(descriptor, size, position) + rest).split(b"\n")
        rest = pieces[0]
        yield from (piece for piece in reversed(pieces[1:]) if piece)
    if rest:
        yield rest
