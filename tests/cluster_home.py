"""A `SUPPLYCHAIN_HOME` of a test's own, for an embedded (`pgserver`) cluster: never under pytest's tmp folders.

Why not `tmp_path`: run as root, pgserver runs initdb and Postgres as its own system user (`pgserver`),
after widening every parent of the data directory to `o+rx` so that user can reach it. pytest's shared
base folder, `/tmp/pytest-of-<user>`, is one of those parents, and every pytest that starts narrows it
back to 0700 (`TempPathFactory.getbasetemp`). So a second pytest started beside a first one cut the
first one's Postgres off its own files: initdb failed with "could not open file .../pgdata/global/pg_control:
Permission denied" (reproduced by narrowing the parent while pgserver starts). pytest also prunes old
numbered folders there, which may hold a cluster still running.

A folder made here sits directly in the system's temporary folder (`/tmp`, open to every user), and
nothing else ever changes its mode or deletes it: it is removed by the `with` block that made it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def cluster_home(prefix: str) -> Iterator[Path]:
    """A new folder `<tmp>/supplychain-<prefix>-XXXX` that pgserver's user can traverse; removed afterwards.

    Stop any cluster started in it before the block ends (the block cannot know whether one runs).
    """
    home = Path(tempfile.mkdtemp(prefix=f"supplychain-{prefix}-"))
    # mkdtemp makes it 0700. pgserver's user needs to traverse it (pgserver widens it to 0755 itself when
    # root): done here too, so the need is visible. The secrets folder inside stays 0700 (`db init`).
    home.chmod(0o711)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)
