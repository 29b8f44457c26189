"""Hypothesis strategies from a tool's JSON Schema (`tools/list` inputSchema): valid and invalid arguments.

`hypothesis-jsonschema` would be the library for this, but its 0.23 release breaks on the Hypothesis
the project pins (it calls internals Hypothesis has since renamed), so this covers the subset the
tools' schemas use: `type` (object, string, integer, number, boolean, null), `anyOf`, local `$ref` to
`$defs`, `enum`, `pattern`, `minLength`/`maxLength`, `minimum`/`maximum`/`exclusiveMinimum`, `format: date-time`,
`required` and `additionalProperties: false`. Anything else raises, so a new schema feature is noticed.

`known_values` lets string properties also draw real ids and codes (both tenants'), so the fuzzer
reaches the rows, not only the "no such record" branch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from hypothesis import strategies as st

_HANDLED = {
    "type", "anyOf", "$ref", "$defs", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "format", "properties", "required", "additionalProperties", "default", "title", "description",
}  # fmt: skip


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """`schema` with a local `$ref` followed (its own keywords, such as a description, kept)."""
    if "$ref" not in schema:
        return schema
    name = str(schema["$ref"]).removeprefix("#/$defs/")
    return {**root["$defs"][name], **{k: v for k, v in schema.items() if k != "$ref"}}


def valid_value(
    schema: Mapping[str, Any], root: Mapping[str, Any], known: Sequence[str] = ()
) -> st.SearchStrategy[Any]:
    """Values that `schema` accepts."""
    schema = _resolve(schema, root)
    unhandled = set(schema) - _HANDLED
    if unhandled:
        raise NotImplementedError(f"schema keywords not handled by the fuzzer: {sorted(unhandled)}")
    if "anyOf" in schema:
        return st.one_of([valid_value(option, root, known) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        return st.floats(
            min_value=schema.get("exclusiveMinimum", schema.get("minimum")),
            max_value=schema.get("maximum"),
            exclude_min="exclusiveMinimum" in schema,
            allow_nan=False,
        )
    if kind == "string":
        return _valid_string(schema, known)
    if kind == "object":
        return valid_arguments(schema, known_values={}, root=root)
    raise NotImplementedError(f"schema type not handled by the fuzzer: {kind!r}")


def _valid_string(schema: Mapping[str, Any], known: Sequence[str]) -> st.SearchStrategy[str]:
    if schema.get("format") == "date-time":
        return st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat())
    min_length, max_length = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        generated = st.from_regex(pattern, fullmatch=True)
        fitting = [value for value in known if pattern.fullmatch(value)]
    else:
        generated = st.text(min_size=min_length, max_size=max_length or min_length + 64)
        fitting = list(known)
    fitting = [value for value in fitting if min_length <= len(value) <= (max_length or len(value))]
    generated = generated.filter(lambda value: min_length <= len(value) <= (max_length or len(value)))
    return st.one_of(st.sampled_from(fitting), generated) if fitting else generated


def valid_arguments(
    schema: Mapping[str, Any],
    known_values: Mapping[str, Sequence[str]],
    root: Mapping[str, Any] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Argument objects `schema` accepts: every required property, any subset of the optional ones."""
    root = root or schema
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    strategies = {name: valid_value(sub, root, known_values.get(name, ())) for name, sub in properties.items()}
    return st.fixed_dictionaries(
        {name: strategies[name] for name in properties if name in required},
        optional={name: strategies[name] for name in properties if name not in required},
    )


# Values no scalar property accepts, whatever its type (pydantic coerces "5" to 5 and "yes" to True,
# so a mere wrong scalar type is not reliably invalid).
_NEVER_SCALAR = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
)


def _invalid_value(schema: Mapping[str, Any], root: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Values `schema` refuses: a container for a scalar, and values that break its own constraints."""
    schema = _resolve(schema, root)
    options = [_NEVER_SCALAR]
    if "anyOf" in schema:
        return _NEVER_SCALAR  # each alternative may accept what another refuses
    if "enum" in schema:
        options.append(st.text(max_size=20).filter(lambda value: value not in schema["enum"]))
    if schema.get("type") == "integer":
        if "maximum" in schema:
            options.append(st.integers(min_value=schema["maximum"] + 1))
        if "minimum" in schema:
            options.append(st.integers(max_value=schema["minimum"] - 1))
    if schema.get("type") == "string" and "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        options.append(st.text(max_size=40).filter(lambda value: not pattern.search(value)))
    if schema.get("type") == "string" and schema.get("minLength", 0) > 0:
        options.append(st.text(max_size=schema["minLength"] - 1))
    if schema.get("type") == "string" and "maxLength" in schema:
        options.append(st.text(min_size=schema["maxLength"] + 1, max_size=schema["maxLength"] + 20))
    return st.one_of(options)


@st.composite
def invalid_arguments(draw: st.DrawFn, schema: Mapping[str, Any], known_values: Mapping[str, Sequence[str]]) -> Any:
    """Argument objects `schema` refuses, each broken one way: a bad property value, a required property
    missing, or an undeclared property."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = list(schema.get("required", []))
    valid = draw(valid_arguments(schema, known_values))
    ways = ["undeclared"] + (["bad_value"] if properties else []) + (["missing"] if required else [])
    way = draw(st.sampled_from(ways))
    if way == "bad_value":
        name = draw(st.sampled_from(sorted(properties)))
        return {**valid, name: draw(_invalid_value(properties[name], schema))}
    if way == "missing":
        name = draw(st.sampled_from(required))
        return {key: value for key, value in valid.items() if key != name}
    extra = draw(st.sampled_from(["tenant_id", "user_id", "__proto__", "sql", "admin"]))
    return {**valid, extra: draw(st.one_of(st.text(max_size=20), st.integers()))}
