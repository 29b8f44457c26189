"""Tools the tests take from npm (Node 22, the TypeScript SDK, oidc-provider), installed on first use.

Each comes from its `scripts/<tool>.sh` into the git-ignored `.tools/`. Where it cannot be had (no
npm, no network) its tests skip with the reason, unless the tool's require variable is `1` (set by
`.ci/run`), which makes that a failure: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NODE = REPO / ".tools" / "node22" / "node_modules" / "node" / "bin" / "node"


def unavailable(reason: str, *, require_variable: str) -> None:
    """Skip the caller with `reason`, or fail it where `require_variable` says the tool must be there (CI)."""
    if os.environ.get(require_variable) == "1":
        pytest.fail(f"these tests must run here ({require_variable}=1): {reason}")
    pytest.skip(reason)


def ensure_installed(what: str, script: Path, installed: Callable[[], bool], *, require_variable: str) -> None:
    """Run `script` unless `installed()` already holds (it does nothing then), or skip the caller saying why."""
    if installed():
        return
    if shutil.which("npm") is None or shutil.which("bash") is None:
        unavailable(f"npm is not installed: Node 22 and {what} come from npm (bash {script.relative_to(REPO)})",
                    require_variable=require_variable)  # fmt: skip
    try:
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        unavailable(f"installing Node 22 and {what} from npm took over 10 minutes", require_variable=require_variable)
    else:
        if done.returncode != 0 or not installed():
            reason = f"{script.relative_to(REPO)} could not install them: {done.stderr.strip()[-300:]}"
            unavailable(reason, require_variable=require_variable)
