"""Tool manifests: each server's tools/list, pinned in a reviewed snapshot (tool poisoning, rug pulls).

A client trusts a tool's name, title, description and schemas the way it trusts a prompt, so a change
to any of them is a change to what the model is told. `tests/snapshots/<server>_tools.json` holds the
reviewed list; the snapshot test and `supplychain tools snapshot --check` fail when the live list
drifts from it, and `supplychain tools snapshot` rewrites it for review (`git diff`).

The order is part of the manifest: tools/list lists tools in the order `register_tools` added them,
which is the order of the `TOOLS` table in each `server.py` (the SDK keeps its tools in an insertion-
ordered dict), so the same code always yields the same list.

`hidden_markers` finds what a reviewer's eye misses in a diff: markup tags such as `<IMPORTANT>` and
invisible characters (zero-width, bidi controls, other format characters) anywhere in a tool.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from mcp import Client
from securemcp.identity.principal import identity_from_roles

from deployment.policy import POLICY, ROLE_SCOPES
from supplychain.servers import load_settings, server_for

SNAPSHOTS = Path(__file__).resolve().parent.parent / "tests" / "snapshots"
# Listing tools never opens a database connection (the engine connects lazily), so none is needed.
_NO_DATABASE = "postgresql://manifest@127.0.0.1:1/not-used"
# Every role, so every tool is visible: the manifest is the whole list, not one caller's view of it.
_REVIEWER = identity_from_roles(policy=POLICY, tenant_id="acme", user_id="reviewer@acme", roles=frozenset(ROLE_SCOPES))

# Descriptions are plain prose, so any markup tag is suspect: `<IMPORTANT>`, `<system>`, `</instructions>`.
_TAG = re.compile(r"<\s*/?\s*[A-Za-z][\w:.-]*(\s[^<>]*)?/?\s*>")
# Variation selectors (category Mn) carry no glyph and can smuggle bytes, like the Cf tag characters.
_VARIATION_SELECTORS = [(0xFE00, 0xFE0F), (0xE0100, 0xE01EF)]


def snapshot_path(server: str) -> Path:
    """Where `server`'s reviewed tool list lives."""
    return SNAPSHOTS / f"{server}_tools.json"


async def live_tools(server: str) -> list[dict[str, Any]]:
    """`server`'s tools/list as a client sees it (through the tool gate), for a caller holding every role."""
    settings = load_settings(server, database_url=_NO_DATABASE, read_only=False)
    built = server_for(settings, local_identity=_REVIEWER)
    async with Client(built) as client:
        listed = await client.list_tools()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]


def render(tools: list[dict[str, Any]]) -> str:
    """The snapshot file's text: stable key order, tools in tools/list order."""
    return json.dumps(tools, indent=2, sort_keys=True) + "\n"


def invisible(char: str) -> bool:
    """True for a character that changes or hides text without showing: format (Cf), control, private use."""
    category = unicodedata.category(char)
    if category == "Cc":
        return char not in "\n\t"
    if category in ("Cf", "Co", "Cs", "Cn"):
        return True
    return any(low <= ord(char) <= high for low, high in _VARIATION_SELECTORS)


def hidden_markers(tools: list[dict[str, Any]]) -> list[str]:
    """Every tag and invisible character in `tools` (names, titles, descriptions, schema keys and values)."""
    found: list[str] = []
    for tool in tools:
        _scan(tool, str(tool.get("name", "?")), found)
    return found


def _scan(value: Any, where: str, found: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check(str(key), f"{where}: key {key!r}", found)
            # A name that hides characters is shown escaped, so the report itself hides nothing.
            _scan(item, f"{where}.{key if str(key).isprintable() else repr(key)}", found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _scan(item, f"{where}[{index}]", found)
    elif isinstance(value, str):
        _check(value, where, found)


def _check(text: str, where: str, found: list[str]) -> None:
    found.extend(f"{where}: tag {match.group(0)!r}" for match in _TAG.finditer(text))
    found.extend(
        f"{where}: invisible U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}" for char in text if invisible(char)
    )
