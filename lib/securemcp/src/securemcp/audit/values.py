"""What a tool call's arguments become in its audit record, whatever they are.

Every call leaves its record (`securemcp.audit.records`), so every value a JSON parser can hand the server must be
storable in Postgres `jsonb` and hashable, and must hash the same when read back. What Python accepts
and `jsonb` or UTF-8 do not, and what each becomes in the stored arguments:

- `NaN`, `Infinity`, `-Infinity` (Python's JSON parsers accept them): the strings "NaN", "Infinity",
  "-Infinity";
- a lone UTF-16 surrogate (`"\\ud800"` is valid JSON): its escape spelled out, `\\ud800`; NUL likewise
  (`\\u0000`), keys included;
- nesting deeper than `MAX_DEPTH`: the deeper part becomes "[nested deeper than 32 levels, sha256 ...]";
- an integer too long to print (over `MAX_INT_BITS` bits): "[integer of N bits]";
- a float `jsonb` would print back as an integer (1e16 and above, -0.0): that integer, so the record
  hashes the same when read back;
- long strings and keys (over `MAX_STRING`): cut, with their length and SHA-256 kept; lists: the first 50.

The record is hashed over exactly this stored form, so `audit verify` recomputes the same hash from the
row; `arguments_digest` is the SHA-256 of the full arguments as sent (before any of this), computed
without recursion so 10,000 levels cannot break it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

SENSITIVE_KEY = re.compile(r"pass|secret|token|credential|key$|authorization", re.IGNORECASE)
MAX_STRING = 200
MAX_LIST = 50
MAX_DEPTH = 32
MAX_INT_BITS = 4096  # about 1,230 digits; Python refuses to print more than 4,300
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
_EXACT_FLOAT_LIMIT = 1e16  # from here on repr uses an exponent, which jsonb prints back as an integer


def canonical_json(value: Any) -> str:
    """The one serialisation that hashes are computed over: sorted keys, no whitespace."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (RecursionError, ValueError):  # deeper than the C encoder's limit, or an int too long to print
        return "".join(_iter_canonical(value))


def arguments_digest(arguments: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the full arguments, lone surrogates included."""
    return hashlib.sha256(canonical_json(dict(arguments)).encode("utf-8", "surrogatepass")).hexdigest()


def redact_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments as they may be stored: secret-looking keys blanked, long strings cut (their hash kept),
    and every value `jsonb` cannot hold replaced as the module docstring says. Applied at every depth."""
    return _stored_mapping(arguments, 1)


def stored_text(value: str) -> str:
    """`value` with NUL and lone surrogates spelled out as their JSON escapes (text Postgres can hold)."""
    if _UNSTORABLE_TEXT.search(value) is None:
        return value
    return _UNSTORABLE_TEXT.sub(lambda match: f"\\u{ord(match.group()):04x}", value)


def _stored_mapping(arguments: Mapping[str, Any], depth: int) -> dict[str, Any]:
    stored: dict[str, Any] = {}
    for key, value in arguments.items():
        name = _stored_string(str(key))  # the fuzzer found a NUL in an argument *name* once
        stored[name] = "[redacted]" if SENSITIVE_KEY.search(str(key)) else _stored(value, depth)
    return stored


def _stored(value: Any, depth: int) -> Any:
    if isinstance(value, Mapping | list) and depth >= MAX_DEPTH:
        digest = hashlib.sha256(canonical_json(value).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return f"[nested deeper than {MAX_DEPTH} levels, sha256 {digest}]"
    if isinstance(value, Mapping):
        return _stored_mapping(value, depth + 1)
    if isinstance(value, list):
        return [_stored(item, depth + 1) for item in value[:MAX_LIST]]
    if isinstance(value, str):
        return _stored_string(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= MAX_INT_BITS else f"[integer of {value.bit_length()} bits]"
    if isinstance(value, float):
        return _stored_float(value)
    return _stored_string(str(value))  # what `default=str` would have made of it


def _stored_float(value: float) -> float | int | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return 0.0  # jsonb has no -0
    if abs(value) >= _EXACT_FLOAT_LIMIT:
        return int(value)
    return value


def _stored_string(value: str) -> str:
    cleaned = stored_text(value)
    if len(cleaned) > MAX_STRING:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return f"{cleaned[:MAX_STRING]}…[{len(value)} chars, sha256 {digest}]"
    return cleaned


def _iter_canonical(value: Any) -> Any:
    """`canonical_json` without recursion, piece by piece (only for what json.dumps refuses)."""
    encode_string = json.encoder.py_encode_basestring  # ensure_ascii=False, as in canonical_json
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Piece):
            yield item.text
        elif isinstance(item, Mapping):
            pairs = sorted(((str(key), entry) for key, entry in item.items()), key=lambda pair: pair[0])
            stack.append(_Piece("}"))
            for position, (key, entry) in reversed(list(enumerate(pairs))):
                stack.append(entry)
                stack.append(_Piece(("," if position else "") + encode_string(key) + ":"))
            stack.append(_Piece("{"))
        elif isinstance(item, list | tuple):
            stack.append(_Piece("]"))
            for position, entry in reversed(list(enumerate(item))):
                stack.append(entry)
                if position:
                    stack.append(_Piece(","))
            stack.append(_Piece("["))
        elif isinstance(item, int) and not isinstance(item, bool) and item.bit_length() > MAX_INT_BITS:
            yield hex(item)  # too long for str(); distinct and stable, which is all a digest needs
        else:
            yield json.dumps(item, ensure_ascii=False, default=str)


class _Piece:
    """Literal text waiting on `_iter_canonical`'s stack."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text
