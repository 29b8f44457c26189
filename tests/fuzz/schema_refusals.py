"""Hypothesis strategies for values a tool's JSON Schema refuses and that pydantic, the tool's validator, refuses too.

Pydantic validates in lax mode: it turns "5" into 5, "yes" into True and 1700000000 into a datetime, so a
value of merely another scalar type is not reliably refused. Each refusal here is one both make:

- a list where the schema wants no list, an object where it wants no object, a number where it wants a
  list or an object;
- a number beyond a bound, on an open bound, off its `multipleOf`, or with a fraction where an integer
  is wanted;
- a string too short, too long, off its pattern, or not of its format;
- a value of an enum's type that is not a member (or not the `const`);
- a list with too few or too many items, or with one refused item;
- an object missing a required property, with an undeclared one where none is allowed, or with one
  refused value.

A union refuses a container kind none of its branches accepts; an optional value (`X | None`) refuses
what `X` refuses. A schema with nothing both would refuse (`{}`, a free `Decimal`) has no strategy
(`None`): the arguments around it are still broken in the other ways.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.schema_strategies import NO_KNOWN, Known, ValidValues, remembered
from tests.fuzz.schema_walk import UnsupportedSchema, check_keywords, node, reference_name, types_of

# What an attacker would smuggle in as an extra argument.
UNDECLARED_NAMES = ("tenant_id", "user_id", "__proto__", "sql", "admin")

A_LIST = st.lists(st.integers(), min_size=1, max_size=3)
AN_OBJECT = st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), min_size=1, max_size=2)
# Strings each format refuses, and pydantic's type for it refuses too.
NOT_OF_FORMAT = {
    "date-time": ["not a date", "2024-13-01T00:00:00+00:00", "2024-02-30T10:00:00+00:00"],
    "date": ["not a date", "2024-13-01", "2024-02-30"],
    "time": ["not a time", "25:00:00", "12:61:00"],
    "duration": ["forever", "P1Y2X"],
    "uuid": ["not-a-uuid", "1234"],
    "email": ["no-at-sign", "example.com"],
    "uri": ["no scheme", "://missing"],
    "hostname": ["-leading-dash", "a..b"],
    "ipv4": ["999.1.1.1", "1.2.3"],
    "ipv6": ["::g", "1:2:3"],
}


def invalid_value(schema: Mapping[str, Any] | bool, root: Mapping[str, Any], where: str = "value") -> Any:
    """A strategy for values `schema` refuses, or None when nothing is sure to be refused."""
    return Refusals(root, NO_KNOWN).value(schema, where)


def invalid_arguments(schema: Mapping[str, Any], known_values: Known = NO_KNOWN) -> st.SearchStrategy[dict[str, Any]]:
    """Argument objects `schema` refuses, each broken one way: a refused value of one argument, a required
    argument missing, or an undeclared argument (one an attacker would try: `UNDECLARED_NAMES`)."""
    resolved = node(schema, schema, "")
    if not isinstance(resolved, Mapping) or resolved.get("type") != "object":
        raise UnsupportedSchema("arguments", "a tool's input schema must be an object schema")
    broken = Refusals(schema, known_values).object(resolved, "", undeclared=UNDECLARED_NAMES)
    if broken is None:
        raise UnsupportedSchema("arguments", "the schema refuses nothing the fuzzer can send")
    return broken


class Refusals:
    """Builds the refusals of one schema (with `$defs` in `root`); the valid parts come from `ValidValues`."""

    def __init__(self, root: Mapping[str, Any], known_values: Known) -> None:
        self.root = root
        self.valid = ValidValues(root, known_values)
        self.built: dict[Any, Any] = {}

    def value(self, schema: Mapping[str, Any] | bool, where: str) -> st.SearchStrategy[Any] | None:
        reference = reference_name(schema)
        if reference is None:
            return self._node(schema, where)
        return remembered(self.built, reference, lambda: self._node(schema, where))

    def _node(self, schema: Mapping[str, Any] | bool, where: str) -> st.SearchStrategy[Any] | None:
        resolved = node(schema, self.root, where)
        if isinstance(resolved, bool):
            return None  # `true` refuses nothing; `false` takes no argument a client could send
        check_keywords(resolved, where)
        if "enum" in resolved or "const" in resolved:
            return self._non_members(resolved)
        for union in ("anyOf", "oneOf"):
            if union in resolved:
                return self._union(resolved[union], where)
        kinds = types_of(resolved)
        if kinds is None:
            return None
        if len(kinds) > 1:
            return _one_of(_containers(set(kinds)))
        return _one_of(self._typed(resolved, kinds[0], where))

    def _union(self, branches: Sequence[Any], where: str) -> st.SearchStrategy[Any] | None:
        resolved = [node(branch, self.root, where) for branch in branches]
        others = [raw for raw, plain in zip(branches, resolved, strict=True) if not _is_null(plain)]
        if len(others) == 1 and len(resolved) == 2:  # `X | None`: whatever X refuses (never None) the union refuses
            return self.value(others[0], where)
        kinds = set()
        for branch in resolved:
            accepted = self._kinds(branch, where)
            if accepted is None:
                return None
            kinds |= accepted
        return _one_of(_containers(kinds))

    def _kinds(self, schema: Any, where: str) -> set[str] | None:
        """The JSON types a schema may accept, or None for any."""
        if isinstance(schema, bool):
            return None if schema else set()
        if "enum" in schema or "const" in schema:
            members = [schema["const"]] if "const" in schema else schema["enum"]
            return {"array" if isinstance(m, list) else "object" if isinstance(m, dict) else "scalar" for m in members}
        for union in ("anyOf", "oneOf"):
            if union in schema:
                kinds: set[str] = set()
                for branch in schema[union]:
                    accepted = self._kinds(node(branch, self.root, where), where)
                    if accepted is None:
                        return None
                    kinds |= accepted
                return kinds
        listed = types_of(schema)
        return None if listed is None else set(listed)

    def _non_members(self, schema: Mapping[str, Any]) -> st.SearchStrategy[Any] | None:
        members = [schema["const"]] if "const" in schema else list(schema["enum"])
        options = _containers({_kind(member) for member in members})
        if all(isinstance(member, str) for member in members):
            options.append(st.text(max_size=20).filter(lambda value: value not in members and _not_json_null(value)))
        if all(isinstance(member, int) and not isinstance(member, bool) for member in members):
            options.append(st.integers().filter(lambda value: value not in members))
        return _one_of(options)

    def _typed(self, schema: Mapping[str, Any], kind: str, where: str) -> list[st.SearchStrategy[Any]]:
        options = _containers({kind})
        if kind in {"integer", "number"}:
            options += _numbers(schema, integer=kind == "integer")
        elif kind == "string":
            options += _strings(schema)
        elif kind == "array":
            options += self._arrays(schema, where)
        elif kind == "object" and (broken := self.object(schema, where)) is not None:
            options.append(broken)
        return options

    def _arrays(self, schema: Mapping[str, Any], where: str) -> list[st.SearchStrategy[Any]]:
        options = []
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        if low > 0:
            options.append(self.valid.array({**schema, "minItems": 0, "maxItems": low - 1}, (), where))
        if high is not None and schema.get("items", True) is not False:
            options.append(self.valid.array({**schema, "minItems": high + 1, "maxItems": high + 1}, (), where))
        if high is None or high > 0:
            options.append(self._array_with_a_refused_item(schema, where))
        return [option for option in options if option is not None]

    def _array_with_a_refused_item(self, schema: Mapping[str, Any], where: str) -> Any:
        """A list the schema would accept but for one item (at a position whose schema refuses something)."""
        prefix = list(schema.get("prefixItems", []))
        at: dict[int, st.SearchStrategy[Any] | None] = {
            index: self.value(item, f"{where}[{index}]") for index, item in enumerate(prefix)
        }
        tail = self.value(schema.get("items", True), f"{where}[]") if schema.get("items", True) is not False else None
        refusable = {index for index, strategy in at.items() if strategy is not None}
        positions = sorted(refusable) + ([len(prefix)] if tail is not None else [])
        high = schema.get("maxItems")
        if not positions or (high is not None and positions[0] >= high):
            return None
        # Long enough to hold the first position that can be refused.
        long_enough = {**schema, "minItems": max(schema.get("minItems", 0), positions[0] + 1)}

        @st.composite
        def broken(draw: st.DrawFn) -> list[Any]:
            values = list(draw(self.valid.array(long_enough, (), where)))
            index = draw(st.sampled_from([i for i in range(len(values)) if i in refusable or i >= len(prefix)]))
            values[index] = draw(at[index] if index < len(prefix) else tail)  # type: ignore[arg-type]
            return values

        return broken()

    def object(
        self, schema: Mapping[str, Any], where: str, undeclared: Sequence[str] = ()
    ) -> st.SearchStrategy[dict[str, Any]] | None:
        """Objects broken one way: a refused value, a required property missing, or an undeclared property."""
        properties: Mapping[str, Any] = schema.get("properties", {})
        patterns: Mapping[str, Any] = schema.get("patternProperties", {})
        declared = set(properties)
        inside = f"{where}." if where else ""
        changes: list[st.SearchStrategy[tuple[str, Any]]] = []
        for name, sub in properties.items():
            refused = self.value(sub, f"{inside}{name}")
            if refused is not None:
                changes.append(st.tuples(st.just(name), refused))
        for pattern, sub in patterns.items():
            refused = self.value(sub, f"{where}{{{pattern}}}")
            if refused is not None:
                changes.append(st.tuples(self.valid.names(schema, where, patterns, declared, pattern), refused))
        extra = schema.get("additionalProperties", True)
        if extra is False:
            strangers = [name for name in undeclared if name not in declared and not _under_any(name, patterns)]
            names = st.sampled_from(strangers) if strangers else st.text(min_size=1, max_size=10)
            unknown = names.filter(lambda name: name not in declared and not _under_any(name, patterns))
            changes.append(st.tuples(unknown, st.integers() | st.text(max_size=20)))
        elif isinstance(extra, Mapping) and (refused := self.value(extra, f"{where}{{}}")) is not None:
            changes.append(st.tuples(self.valid.names(schema, where, patterns, declared), refused))
        valid = self.valid.object(schema, where)
        ways = [st.tuples(valid, change).map(_with_change) for change in changes]
        ways += [valid.map(_without(name)) for name in schema.get("required", [])]
        return _one_of(ways)


def _with_change(pair: tuple[dict[str, Any], tuple[str, Any]]) -> dict[str, Any]:
    found, (name, value) = pair
    return {**found, name: value}


def _without(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda found: {key: value for key, value in found.items() if key != name}


def _under_any(name: str, patterns: Mapping[str, Any]) -> bool:
    return any(re.search(pattern, name) for pattern in patterns)


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"


def _kind(value: Any) -> str:
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "scalar"


def _containers(kinds: set[str]) -> list[st.SearchStrategy[Any]]:
    """The container kinds none of `kinds` accepts: a list, an object, or (for containers) a number."""
    options: list[st.SearchStrategy[Any]] = [] if "array" in kinds else [A_LIST]
    options += [] if "object" in kinds else [AN_OBJECT]
    if kinds <= {"array", "object"}:
        options.append(st.integers())
    return options


def _one_of(options: Sequence[st.SearchStrategy[Any]]) -> st.SearchStrategy[Any] | None:
    return st.one_of(options) if options else None


def _numbers(schema: Mapping[str, Any], *, integer: bool) -> list[st.SearchStrategy[Any]]:
    """Numbers beyond a bound, on an open bound, off the `multipleOf`, or (for an integer) with a fraction."""
    options: list[st.SearchStrategy[Any]] = []
    if "maximum" in schema:
        high = schema["maximum"]
        options.append(
            st.integers(min_value=math.floor(high) + 1)
            if integer
            else st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False)
        )
    if "minimum" in schema:
        low = schema["minimum"]
        options.append(
            st.integers(max_value=math.ceil(low) - 1)
            if integer
            else st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False)
        )
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in schema and (not integer or float(schema[bound]).is_integer()):
            options.append(st.just(int(schema[bound]) if integer else schema[bound]))
    step = schema.get("multipleOf")
    if step is not None and integer and float(step).is_integer() and step > 1:
        options.append(st.integers(-1000, 1000).map(lambda k: int(k * step + 1)))
    elif step is not None and not integer:
        options.append(st.integers(-1000, 1000).map(lambda k: k * step + step / 2))
    if integer:
        options.append(st.integers(-(10**6), 10**6).map(lambda k: k + 0.5))
    return options


def _strings(schema: Mapping[str, Any]) -> list[st.SearchStrategy[Any]]:
    """Strings off the pattern, too short, too long, or not of the format."""
    options: list[st.SearchStrategy[Any]] = []
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        options.append(st.text(max_size=40).filter(lambda value: not pattern.search(value)))
    if schema.get("minLength", 0) > 0:
        options.append(st.text(max_size=schema["minLength"] - 1))
    if "maxLength" in schema:
        options.append(st.text(min_size=schema["maxLength"] + 1, max_size=schema["maxLength"] + 20))
    if schema.get("format") in NOT_OF_FORMAT:
        options.append(st.sampled_from(NOT_OF_FORMAT[schema["format"]]))
    return [option.filter(_not_json_null) for option in options]


def _not_json_null(value: str) -> bool:
    """The MCP SDK parses a string argument as JSON where the parameter is not a plain `str` (an optional
    one, say), so the text `null` would arrive as None, which `X | None` accepts."""
    return value.strip() != "null"
