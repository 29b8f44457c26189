"""The TypeScript SDK and Node 22 for the interoperability test, and a stack for it to talk to.

Node 22 and `@modelcontextprotocol/sdk` come from npm (`scripts/ts-sdk.sh` installs them into the
git-ignored `.tools/`). Where they cannot be had (no npm, no network) the test skips with the reason,
unless `REQUIRE_TS_SDK_INTEROP=1` (set by `.ci/run`), which makes that a failure: CI must run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.http.running import running_stack
from tests.http.stack import Stack

REPO = Path(__file__).resolve().parents[2]
NODE = REPO / ".tools" / "node22" / "node_modules" / "node" / "bin" / "node"
SDK_DIR = REPO / ".tools" / "ts-sdk"
INSTALL = REPO / "scripts" / "ts-sdk.sh"


@dataclass(frozen=True)
class TypeScriptSdk:
    """A Node 22 binary and a folder whose node_modules holds the SDK."""

    node: Path
    sdk_dir: Path


def _installed() -> bool:
    return NODE.is_file() and (SDK_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json").is_file()


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_TS_SDK_INTEROP") == "1":
        pytest.fail(f"the TypeScript SDK interop test must run here: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ts_sdk() -> TypeScriptSdk:
    """Node 22 and the SDK, installed by `scripts/ts-sdk.sh` on first use (it does nothing when present)."""
    if not _installed():
        if shutil.which("npm") is None or shutil.which("bash") is None:
            _unavailable("npm is not installed: Node 22 and @modelcontextprotocol/sdk come from npm")
        try:
            done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            _unavailable("installing Node 22 and the SDK from npm took over 10 minutes")
        else:
            if done.returncode != 0 or not _installed():
                _unavailable(f"scripts/ts-sdk.sh could not install them: {done.stderr.strip()[-300:]}")
    return TypeScriptSdk(node=NODE, sdk_dir=SDK_DIR)


@pytest.fixture(scope="package")
def inventory_stack(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[Stack]:
    """The dev IdP and the inventory server on loopback, for the TypeScript client."""
    with running_stack(supplychain_home / "interop" / "idp-keys", ("inventory",)) as running:
        yield running
