"""Reading a JSON Schema as the fuzzer's two strategy builders need it: references followed, parts merged.

Both builders (`schema_strategies` for accepted values, `schema_refusals` for refused ones) see a schema
node only through `node()`, which follows a local `$ref` and merges `allOf`, so neither has to know
how pydantic spelled a model. A shape the fuzzer cannot read raises `UnsupportedSchema` naming where
it is (`lines[].sku`: the `sku` of an item of the argument `lines`), never a silent skip.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Keywords that describe a value without constraining it.
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment", "$schema",
     "$id", "discriminator", "$defs", "definitions"}
)  # fmt: skip
# `discriminator` (pydantic's, beside `oneOf`) only names the property whose `const` tells the branches apart.

KEYWORDS_BY_TYPE = {
    "string": frozenset({"minLength", "maxLength", "pattern", "format"}),
    "integer": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
    "number": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
    "boolean": frozenset(),
    "null": frozenset(),
    "array": frozenset({"items", "prefixItems", "minItems", "maxItems", "uniqueItems"}),
    "object": frozenset(
        {
            "properties",
            "required",
            "additionalProperties",
            "patternProperties",
            "propertyNames",
            "minProperties",
            "maxProperties",
        }
    ),
}
JSON_TYPES = frozenset(KEYWORDS_BY_TYPE)
GENERAL = frozenset({"type", "enum", "const", "anyOf", "oneOf"})


class UnsupportedSchema(Exception):
    """A schema shape the fuzzer cannot draw values for; `where` names the argument (and the part of it)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where or 'arguments'}: {problem}")
        self.where = where
        self.problem = problem

    @property
    def argument(self) -> str:
        """The tool argument at fault: `where` up to its first `.`, `[` or space."""
        return re.split(r"[.\[ ]", self.where, maxsplit=1)[0] or "arguments"


def merged(first: Mapping[str, Any], second: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Both schemas as one (a value must satisfy both): annotations of `second` win, constraints must agree."""
    out = dict(first)
    for key, value in second.items():
        if key in out and key not in ANNOTATIONS and out[key] != value:
            raise UnsupportedSchema(where, f"conflicting {key!r} in parts that must all hold: {out[key]!r}, {value!r}")
        out[key] = value
    return out


def _target(reference: str, root: Mapping[str, Any], where: str) -> Any:
    """What a local reference (`#`, `#/$defs/Name`, any `#/...` pointer) points at in `root`: a schema."""
    if not reference.startswith("#"):
        raise UnsupportedSchema(where, f"only local references are supported, not {reference!r}")
    found: Any = root
    for part in filter(None, reference[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(found, Mapping) or part not in found:
            raise UnsupportedSchema(where, f"reference {reference!r} points at nothing")
        found = found[part]
    return found


def node(schema: Mapping[str, Any] | bool, root: Mapping[str, Any], where: str) -> dict[str, Any] | bool:
    """`schema` with its `$ref` followed and its `allOf` merged in (`True`/`False` schemas as they are)."""
    if isinstance(schema, bool):
        return schema
    out = dict(schema)
    seen: set[str] = set()
    while "$ref" in out or "allOf" in out:
        if "$ref" in out:
            reference = str(out.pop("$ref"))
            if reference in seen:
                raise UnsupportedSchema(where, f"reference {reference!r} refers to itself")
            seen.add(reference)
            target = _target(reference, root, where)
            if isinstance(target, bool):
                if set(out) - ANNOTATIONS:
                    raise UnsupportedSchema(where, f"a reference to the schema {target!r} with constraints beside it")
                return target
            out = merged(target, out, where)  # the reference's own siblings (a description) win
        for part in out.pop("allOf", []):
            resolved = node(part, root, where)
            if resolved is False:
                return False
            if resolved is not True:
                out = merged(out, resolved, where)
    return out


def reference_name(schema: Mapping[str, Any] | bool) -> str | None:
    """The `$ref` of a schema that is nothing but a reference (and annotations): the unit a recursion repeats."""
    if isinstance(schema, bool) or "$ref" not in schema:
        return None
    return str(schema["$ref"]) if set(schema) - {"$ref"} <= ANNOTATIONS else None


def types_of(schema: Mapping[str, Any]) -> list[str] | None:
    """The JSON types `schema` names (`type` as a string or a list); None when it names none."""
    kind = schema.get("type")
    if kind is None:
        return None
    return [kind] if isinstance(kind, str) else list(kind)


def check_keywords(schema: Mapping[str, Any], where: str) -> None:
    """Raise on any keyword the builders do not handle, so a new schema feature is noticed, not ignored."""
    kinds = types_of(schema)
    unknown_types = sorted(set(kinds or ()) - JSON_TYPES)
    if unknown_types:
        raise UnsupportedSchema(where, f"unknown type {unknown_types}")
    allowed = ANNOTATIONS | GENERAL
    for kind in kinds or (JSON_TYPES if _typed_keywords(schema) else ()):
        allowed |= KEYWORDS_BY_TYPE[kind]
    unhandled = sorted(set(schema) - allowed)
    if unhandled:
        raise UnsupportedSchema(where, f"schema keywords not handled by the fuzzer: {unhandled}")
    if kinds is None and _typed_keywords(schema) and not ({"enum", "const", "anyOf", "oneOf"} & set(schema)):
        raise UnsupportedSchema(where, f"constraints {sorted(_typed_keywords(schema))} without a `type`")


def _typed_keywords(schema: Mapping[str, Any]) -> set[str]:
    return set(schema) & set().union(*KEYWORDS_BY_TYPE.values())


def json_identity(value: Any) -> Any:
    """A hashable key under which two JSON values are equal exactly when JSON Schema says so (`uniqueItems`):
    1 and 1.0 are one number, but `true` is not 1."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)  # Python already has 1 == 1.0 with equal hashes
    if isinstance(value, list):
        return ("array", tuple(json_identity(item) for item in value))
    if isinstance(value, Mapping):
        return ("object", frozenset((key, json_identity(item)) for key, item in value.items()))
    return (type(value).__name__, value)
