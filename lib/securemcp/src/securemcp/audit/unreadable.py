"""A `tools/call` the protocol layer cannot parse still leaves its audit record.

The SDK parses an HTTP body one of two ways, by the request's era (`MCP-Protocol-Version` header):
- 2026-07-28 requests with `json.loads`, which gives up on nesting deeper than Python's recursion limit
  (about 1,000 levels) and on integers longer than 4,300 digits;
- handshake-era requests (no header, or one of the handshake versions such as 2025-11-25: the
  sessions of `Mcp-Session-Id`) with `pydantic_core.from_json`, which gives up at about 200 levels,
  on integers of 4,300 digits and on lone surrogates.
Either way the client gets a JSON-RPC parse error, and no tool call ever exists to be recorded. The HTTP
gate (`securemcp.http.gate`) judges the body with the parser the SDK will use (`sdk_refuses`); when that parser
refuses it, the gate reads it once more with `lenient_loads`, which has no depth limit (it keeps its own
stack instead of recursing), and when it is a `tools/call` records the call as refused before the SDK
answers.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pydantic_core
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import Scope

_TOKEN = re.compile(
    r"[ \t\n\r]*(?:([\[\]{},:])|(\")"  # punctuation, or the opening quote of a string
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|(true|false|null|NaN|-?Infinity))"
)
_WORDS: dict[str, Any] = {
    "true": True, "false": False, "null": None, "NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf,
}  # fmt: skip
_VERSION_HEADER = b"mcp-protocol-version"
UNREADABLE_DETAIL = (
    "the protocol layer could not parse this call (nesting too deep, a number too long or a lone surrogate)"
)


def lenient_loads(document: str) -> Any:
    """Parse JSON without recursion (any depth); an integer too long for Python becomes a marker string.

    Raises ValueError on text that is not JSON. Lenient about what strict JSON also refuses (a trailing
    comma): it only needs to recover what a client sent, for the record.
    """
    stack: list[tuple[list[Any] | dict[str, Any], list[str | None]]] = []  # container, its pending key
    result: list[Any] = []
    position = 0
    while True:
        match = _TOKEN.match(document, position)
        if match is None:
            if document[position:].strip():
                raise ValueError(f"not JSON at character {position}")
            break
        position = match.end()
        punctuation, quote, number, word = match.groups()
        if punctuation in ("[", "{"):
            stack.append(([] if punctuation == "[" else {}, [None]))
            continue
        if punctuation in (",", ":"):
            continue
        if punctuation in ("]", "}"):
            if not stack:
                raise ValueError(f"unbalanced {punctuation!r} at character {position}")
            value: Any = stack.pop()[0]
        elif quote:
            value, position = json.decoder.scanstring(document, position)  # type: ignore[attr-defined]
            if stack and isinstance(stack[-1][0], dict) and stack[-1][1][0] is None:
                stack[-1][1][0] = value  # a key: its value follows
                continue
        elif number:
            value = _number(number)
        else:
            value = _WORDS[word]
        if not stack:
            result.append(value)
            continue
        container, key = stack[-1]
        if isinstance(container, list):
            container.append(value)
        else:
            container[str(key[0])] = value
            key[0] = None
    if stack or len(result) != 1:
        raise ValueError("incomplete JSON document")
    return result[0]


def _number(text: str) -> int | float | str:
    if "." in text or "e" in text or "E" in text:
        return float(text)
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        return f"[integer of {len(text.lstrip('-'))} digits]"


def handshake_era(scope: Scope) -> bool:
    """True when the SDK serves this HTTP request on its handshake-era path (`pydantic_core` parses it).

    The same rule as the SDK's router (`StreamableHTTPSessionManager`): no `MCP-Protocol-Version` header,
    or one naming a handshake version (the first header counts).
    """
    version = next((value.decode("latin-1") for name, value in scope["headers"] if name == _VERSION_HEADER), None)
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS


def sdk_refuses(body: bytes, *, handshake: bool) -> bool:
    """True when the parser the SDK uses for this era refuses `body`."""
    try:
        if handshake:
            pydantic_core.from_json(body)
        else:
            json.loads(body)
    except (ValueError, RecursionError):
        return True
    return False


def unreadable_tool_call(body: bytes, *, handshake: bool) -> tuple[str, dict[str, Any]] | None:
    """The tool name and arguments of a `tools/call` body the SDK's parser for its era refuses; None otherwise."""
    if b"tools/call" not in body:
        return None
    if not sdk_refuses(body, handshake=handshake):
        return None  # readable: the SDK parses it and the tool gate records it
    try:
        message = lenient_loads(body.decode("utf-8"))
    except ValueError:  # not JSON at all (UnicodeDecodeError is a ValueError too): no call to record
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None
    params = message.get("params")
    name = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str):
        return None
    arguments = params.get("arguments") if isinstance(params, dict) else None
    return name, arguments if isinstance(arguments, dict) else {}
