"""The TypeScript SDK and Node 22 for the interoperability test, and a stack for it to talk to.

Node 22 and `@modelcontextprotocol/sdk` come from npm (`scripts/ts-sdk.sh` installs them into the
git-ignored `.tools/`). Where they cannot be had (no npm, no network) the test skips with the reason,
unless `REQUIRE_TS_SDK_INTEROP=1` (set by `.ci/run`), which makes that a failure: CI must run it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.http.running import running_stack
from tests.http.stack import Stack
from tests.npm_tools import NODE, REPO, ensure_installed

SDK_DIR = REPO / ".tools" / "ts-sdk"
INSTALL = REPO / "scripts" / "ts-sdk.sh"


@dataclass(frozen=True)
class TypeScriptSdk:
    """A Node 22 binary and a folder whose node_modules holds the SDK."""

    node: Path
    sdk_dir: Path


def _installed() -> bool:
    return NODE.is_file() and (SDK_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json").is_file()


@pytest.fixture(scope="session")
def ts_sdk() -> TypeScriptSdk:
    """Node 22 and the SDK, installed by `scripts/ts-sdk.sh` on first use (it does nothing when present)."""
    ensure_installed("@modelcontextprotocol/sdk", INSTALL, _installed, require_variable="REQUIRE_TS_SDK_INTEROP")
    return TypeScriptSdk(node=NODE, sdk_dir=SDK_DIR)


@pytest.fixture(scope="package")
def inventory_stack(server_urls: dict[str, str], supplychain_home: Path) -> Iterator[Stack]:
    """The dev IdP and the inventory server on loopback, for the TypeScript client."""
    with running_stack(supplychain_home / "interop" / "idp-keys", ("inventory",)) as running:
        yield running
