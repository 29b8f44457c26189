"""compose.yaml read the way Docker Compose reads it: YAML (anchors and merge keys), then interpolation.

There is no Docker engine here, so the tests check the parsed file. `interpolate` implements the part of
Compose's interpolation the file uses (`${VAR:?message}`, `${VAR:-default}`, `$$`); `variables` lists
every `${...}` as written, so a test can hold each one to the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "compose.yaml"
PROFILES = ("http", "gateway")
# The values a user would export; any well-formed ones would do.
EXAMPLE_VARIABLES = {"PUBLIC_HOST": "mcp.example.test", "SECRETS_DIR": "/srv/supplychain-secrets"}
_REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:\?|:-|\?|-|:\+|\+)(?P<arg>.*))?$", re.S)


@dataclass(frozen=True)
class Reference:
    """One `$...` in a value: `name`, and the operator (`:?`, `:-`, ...) with its argument, if any."""

    name: str
    op: str | None
    arg: str | None


def raw() -> dict[str, Any]:
    """compose.yaml parsed, before interpolation."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return document


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    return []


def variables(document: dict[str, Any]) -> list[Reference]:
    """Every variable reference in the document's values (`$$` is an escaped dollar, not a reference)."""
    found: list[Reference] = []
    for text in _strings(document):
        for match in _REFERENCE.finditer(text):
            if match["escaped"]:
                continue
            if match["bare"]:
                found.append(Reference(match["bare"], None, None))
                continue
            braced = _BRACED.match(match["braced"])
            assert braced, f"malformed reference ${{{match['braced']}}}"
            found.append(Reference(braced["name"], braced["op"], braced["arg"]))
    return found


def _substitute(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        reference = _BRACED.match(match["braced"] or match["bare"])
        assert reference
        name, op, arg = reference["name"], reference["op"], reference["arg"]
        value = env.get(name)
        if op == ":?" and not value:
            raise KeyError(f"{name}: {arg}")
        if op == ":-" and not value:
            return arg or ""
        return value or ""

    return _REFERENCE.sub(one, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """`node` with every value interpolated from `env` (keys are left as they are, as Compose does)."""
    if isinstance(node, str):
        return _substitute(node, env)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


def resolved(env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml as Compose would run it with the example variables."""
    document: dict[str, Any] = interpolate(raw(), env or EXAMPLE_VARIABLES)
    return document


def services(document: dict[str, Any], profile: str) -> dict[str, dict[str, Any]]:
    """The services `docker compose --profile <profile> up` starts."""
    return {name: spec for name, spec in document["services"].items() if profile in spec.get("profiles", [])}


def served(spec: dict[str, Any]) -> str | None:
    """The MCP server a service runs (`serve <name> ...`), or None."""
    command = spec.get("command") or []
    return command[1] if command[:1] == ["serve"] else None


def network_names(spec: dict[str, Any]) -> list[str]:
    """The networks a service joins (list or mapping form)."""
    return list(spec.get("networks") or [])  # a list, or a mapping whose keys are the names


def secret_names(spec: dict[str, Any]) -> list[str]:
    """The secrets a service is given (short or long form)."""
    return [entry if isinstance(entry, str) else entry["source"] for entry in spec.get("secrets", [])]


def published_ports(spec: dict[str, Any]) -> list[str]:
    """The `ports:` entries of a service (short form, as this file writes them)."""
    return [str(entry) for entry in spec.get("ports", [])]
