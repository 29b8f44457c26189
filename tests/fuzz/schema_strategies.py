"""Hypothesis strategies for the values a tool's JSON Schema (`tools/list` inputSchema) accepts.

`hypothesis-jsonschema` would be the library for this, but its 0.23 release breaks on the Hypothesis
the project pins (it calls internals Hypothesis has since renamed), so this builds strategies for every
shape pydantic gives a typed tool argument: scalars with their bounds (`minimum`, `maximum`, both
`exclusive...`, `multipleOf`; `minLength`, `maxLength`, `pattern`, `format`), `enum` and `const`,
unions (`anyOf`, `oneOf`, `type` lists, null), arrays (`items`, `prefixItems` for tuples, `minItems`,
`maxItems`, `uniqueItems` for sets), objects (nested models through `$ref`/`$defs` or `allOf`,
`required`, `additionalProperties` false or a schema for dicts, `propertyNames`, `minProperties`,
`maxProperties`) and recursive models. Anything else raises `UnsupportedSchema` naming the argument,
when the strategy is built, not when it is drawn: a tool the fuzzer cannot reach fails its test.

A pydantic `Decimal` is a union of a number and a free string; the string branch draws decimal strings
within the number branch's bounds, as a client sending money would, rather than text pydantic refuses.

`known_values` maps a property name to real values (ids and codes of both tenants) that string
properties of that name (and the items of array properties of that name) also draw, when they fit:
so the fuzzer reaches the rows, not only the "no such record" branch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any

from hypothesis import provisional
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.fuzz.schema_walk import (
    ANNOTATIONS,
    UnsupportedSchema,
    check_keywords,
    json_identity,
    merged,
    node,
    reference_name,
    types_of,
)

__all__ = ["UnsupportedSchema", "ValidValues", "remembered", "valid_arguments", "valid_value"]

Known = Mapping[str, Sequence[str]]
NO_KNOWN: Known = {}
EXTRA_ITEMS = 5  # how far past `minItems` (or `minProperties`) a list (or a dict) grows when nothing bounds it
TEXT_SIZE = 64  # how long free text grows when nothing bounds it
# Money in this project has two decimal places (`securemcp.money`); the schema of a `Decimal` does not say.
DECIMAL_PLACES = 2

FORMATS: dict[str, st.SearchStrategy[str]] = {
    "date-time": st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
    "date": st.dates().map(lambda day: day.isoformat()),
    "time": st.times(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
    "duration": st.tuples(st.integers(0, 999), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)).map(
        lambda parts: "P{}DT{}H{}M{}S".format(*parts)
    ),
    "uuid": st.uuids().map(str),
    "email": st.emails(),
    "uri": provisional.urls(),
    "hostname": provisional.domains(),
    "ipv4": st.ip_addresses(v=4).map(str),
    "ipv6": st.ip_addresses(v=6).map(str),
    "password": st.text(max_size=TEXT_SIZE),  # pydantic's SecretStr: any text
    "binary": st.text(max_size=TEXT_SIZE),  # pydantic's bytes: any text, as UTF-8
}

ANY_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def valid_arguments(
    schema: Mapping[str, Any], known_values: Known = NO_KNOWN, root: Mapping[str, Any] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Argument objects `schema` accepts: every required property, any subset of the optional ones."""
    return ValidValues(root if root is not None else schema, known_values).value(schema, (), "")


def valid_value(
    schema: Mapping[str, Any] | bool,
    root: Mapping[str, Any] | None = None,
    known: Sequence[str] = (),
    where: str = "value",
) -> st.SearchStrategy[Any]:
    """Values `schema` accepts (`root` holds its `$defs`); `known` strings are drawn too where they fit."""
    top = root if root is not None else schema if isinstance(schema, Mapping) else {}
    return ValidValues(top, NO_KNOWN).value(schema, known, where)


class ValidValues:
    """Builds one tool's strategies; follows references in `root` and remembers them, so recursion ends."""

    def __init__(self, root: Mapping[str, Any], known_values: Known) -> None:
        self.root = root
        self.known_values = known_values
        self.built: dict[Any, Any] = {}

    def value(self, schema: Mapping[str, Any] | bool, known: Sequence[str], where: str) -> st.SearchStrategy[Any]:
        reference = reference_name(schema)
        if reference is None:
            return self._node(schema, known, where)
        strategy = remembered(self.built, (reference, tuple(known)), lambda: self._node(schema, known, where))
        assert strategy is not None
        return strategy

    def _node(self, schema: Mapping[str, Any] | bool, known: Sequence[str], where: str) -> st.SearchStrategy[Any]:
        resolved = node(schema, self.root, where)
        if resolved is True:
            return ANY_JSON
        if resolved is False:
            raise UnsupportedSchema(where, "the schema `false` accepts no value")
        check_keywords(resolved, where)
        if "enum" in resolved or "const" in resolved:
            return self._members(resolved, where)
        for union in ("anyOf", "oneOf"):
            if union in resolved:
                return self._union(resolved, union, known, where)
        kinds = types_of(resolved)
        if kinds is None:
            return ANY_JSON  # `{}` (pydantic's `Any`): every value
        return st.one_of([self._typed(resolved, kind, known, where) for kind in kinds])

    def _members(self, schema: Mapping[str, Any], where: str) -> st.SearchStrategy[Any]:
        """`enum`/`const` values that also satisfy the schema's other keywords."""
        members = [schema["const"]] if "const" in schema else list(schema["enum"])
        rest = {key: value for key, value in schema.items() if key not in {"enum", "const"}}
        accepted = [member for member in members if self.validator(rest).is_valid(member)]
        if not accepted:
            raise UnsupportedSchema(where, f"no member of {members!r} satisfies the rest of the schema")
        return st.sampled_from(accepted)

    def _union(self, schema: Mapping[str, Any], union: str, known: Sequence[str], where: str) -> st.SearchStrategy[Any]:
        rest = {key: value for key, value in schema.items() if key != union and key not in ANNOTATIONS}
        # Branches stay as written (a `$ref` unresolved) unless constraints beside the union must join each:
        # a recursive model is reached through its reference, which `value` remembers.
        branches = [{"allOf": [rest, branch]} if rest else branch for branch in schema[union]]
        resolved = [node(branch, self.root, where) for branch in branches]
        decimal = _decimal_number_branch(resolved)
        drawn = [
            self._branch(branch, plain, decimal, known, where) for branch, plain in zip(branches, resolved, strict=True)
        ]
        if union == "anyOf":
            return st.one_of(drawn)
        # oneOf: exactly one branch may accept the value (pydantic's discriminated unions always do)
        checks = [self.validator(branch) for branch in resolved]
        return st.one_of(drawn).filter(lambda value: sum(check.is_valid(value) for check in checks) == 1)

    def _branch(
        self, branch: Any, plain: Any, decimal: Mapping[str, Any] | None, known: Sequence[str], where: str
    ) -> st.SearchStrategy[Any]:
        """One branch of a union; both branches of a `Decimal` draw amounts with its places, as text or number."""
        if decimal is not None and _is_free_string(plain):
            return _decimal_amounts(decimal).map(str)
        if decimal is not None and plain is decimal:
            return _decimal_amounts(decimal).map(float)
        return self.value(branch, known, where)

    def _typed(self, schema: Mapping[str, Any], kind: str, known: Sequence[str], where: str) -> st.SearchStrategy[Any]:
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind in {"integer", "number"}:
            return _number(schema, integer=kind == "integer", where=where)
        if kind == "string":
            return _string(schema, known, self.validator(schema), where)
        if kind == "array":
            return self.array(schema, known, where)
        return self.object(schema, where)

    def array(self, schema: Mapping[str, Any], known: Sequence[str], where: str) -> st.SearchStrategy[list[Any]]:
        prefix = list(schema.get("prefixItems", []))
        items = schema.get("items", True)
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", max(low, len(prefix)) + EXTRA_ITEMS)
        if items is False:
            high = min(high, len(prefix))
        if low > high:
            raise UnsupportedSchema(where, f"no list has at least {low} and at most {high} items")
        unique = json_identity if schema.get("uniqueItems") else None
        if not prefix:
            return st.lists(self.value(items, known, f"{where}[]"), min_size=low, max_size=high, unique_by=unique)
        heads = [self.value(item, known, f"{where}[{index}]") for index, item in enumerate(prefix)]
        tail = self.value(items, known, f"{where}[]") if high > len(prefix) else st.nothing()

        def of_length(length: int) -> st.SearchStrategy[list[Any]]:
            return st.tuples(*heads[:length], *[tail] * (length - len(prefix))).map(list)

        drawn = st.integers(low, high).flatmap(of_length)
        return drawn.filter(lambda values: len({json_identity(v) for v in values}) == len(values)) if unique else drawn

    def object(self, schema: Mapping[str, Any], where: str) -> st.SearchStrategy[dict[str, Any]]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        extra = schema.get("additionalProperties", True)
        inside = f"{where}." if where else ""
        undeclared = [name for name in required if name not in properties]
        if undeclared and extra is False:
            raise UnsupportedSchema(where or "arguments", f"required {undeclared} are neither declared nor allowed")
        declared = {**{name: extra for name in undeclared}, **properties}
        drawn = {
            name: self.value(sub, self.known_values.get(name, ()), f"{inside}{name}") for name, sub in declared.items()
        }
        fixed = st.fixed_dictionaries(
            {name: drawn[name] for name in declared if name in required},
            optional={name: drawn[name] for name in declared if name not in required},
        )
        low, high = schema.get("minProperties", 0), schema.get("maxProperties")
        entries = self.extra_entries(schema, set(declared), where)
        if entries:
            more = st.lists(st.one_of(entries), max_size=high if high is not None else low + EXTRA_ITEMS).map(dict)
            fixed = st.tuples(fixed, more).map(lambda parts: {**parts[1], **parts[0]})
        return fixed.filter(lambda found: low <= len(found) <= (high if high is not None else len(found)))

    def extra_entries(
        self, schema: Mapping[str, Any], declared: set[str], where: str
    ) -> list[st.SearchStrategy[tuple[str, Any]]]:
        """(name, value) pairs of a dict beyond its declared properties: under each of `patternProperties`,
        and under `additionalProperties` when it is a schema (`true` allows more, but a tool reads none)."""
        patterns: Mapping[str, Any] = schema.get("patternProperties", {})
        entries = [
            st.tuples(
                self.names(schema, where, patterns, declared, pattern), self.value(sub, (), f"{where}{{{pattern}}}")
            )
            for pattern, sub in patterns.items()
        ]
        extra = schema.get("additionalProperties", True)
        if isinstance(extra, Mapping):
            entries.append(
                st.tuples(self.names(schema, where, patterns, declared), self.value(extra, (), f"{where}{{}}"))
            )
        return entries

    def names(
        self,
        schema: Mapping[str, Any],
        where: str,
        patterns: Mapping[str, Any],
        declared: set[str],
        pattern: str | None = None,
    ) -> st.SearchStrategy[str]:
        """Names `propertyNames` accepts, not declared, matching `pattern` alone of `patterns` (none, for None)."""
        where = f"{where} (property names)"
        accepted = node(schema.get("propertyNames", True), self.root, where)
        if accepted is False:
            raise UnsupportedSchema(where, "the schema `false` accepts no name")
        names = {"type": "string", **({} if accepted is True else accepted)}
        if pattern is not None:
            names = merged(names, {"pattern": pattern}, where)
        return self.value(names, (), where).filter(lambda name: _only_under(name, pattern, patterns, declared))

    def validator(self, schema: Mapping[str, Any] | bool) -> Draft202012Validator:
        """A validator of `schema` that resolves local references against the tool's root schema."""
        if isinstance(schema, bool):
            return Draft202012Validator(schema)
        definitions = {key: self.root[key] for key in ("$defs", "definitions") if key in self.root}
        return Draft202012Validator({**schema, **definitions})


_BUILDING = object()


def remembered(
    built: dict[Any, Any], key: Any, build: Callable[[], st.SearchStrategy[Any] | None]
) -> st.SearchStrategy[Any] | None:
    """`build()` once per key (a reference); met again while being built, a recursive model draws through
    `st.deferred`, which looks the finished strategy up when drawing."""
    if key not in built:
        built[key] = _BUILDING
        built[key] = build()
    elif built[key] is _BUILDING:
        return st.deferred(lambda: built[key] if built[key] is not None else st.nothing())
    result: st.SearchStrategy[Any] | None = built[key]
    return result


def _number(schema: Mapping[str, Any], *, integer: bool, where: str) -> st.SearchStrategy[Any]:
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum", max)
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum", min)
    step = schema.get("multipleOf")
    if integer or step is not None:
        unit = step if step is not None else 1
        if integer and step is not None and not float(step).is_integer():
            unit = _integer_multiple(step, where)
        first = None if low is None else math.floor(low / unit) + 1 if low_open else math.ceil(low / unit)
        last = None if high is None else math.ceil(high / unit) - 1 if high_open else math.floor(high / unit)
        if first is not None and last is not None and first > last:
            raise UnsupportedSchema(where, f"no multiple of {unit} lies within the bounds")
        multiples = st.integers(first, last).map(lambda k: k * unit)
        if integer:
            return multiples.map(int)
        return multiples.filter(lambda value: _within(value, schema) and _is_multiple(value, unit))
    return st.floats(low, high, exclude_min=low_open, exclude_max=high_open, allow_nan=False, allow_infinity=False)


def _bound(schema: Mapping[str, Any], closed: str, open_: str, tighter: Any) -> tuple[float | None, bool]:
    """The tighter of a closed and an open bound, and whether it is the open one."""
    candidates = [(schema[closed], False)] if closed in schema else []
    candidates += [(schema[open_], True)] if open_ in schema else []
    if not candidates:
        return None, False
    value = tighter(bound for bound, _ in candidates)
    return value, any(is_open and bound == value for bound, is_open in candidates)


def _integer_multiple(step: float, where: str) -> int:
    """The smallest integer that is a multiple of a fractional `multipleOf` (0.5 -> 1, 0.25 -> 1, 1.5 -> 3)."""
    fraction = Decimal(str(step)).as_integer_ratio()
    numerator, denominator = fraction
    if denominator > 10**6:
        raise UnsupportedSchema(where, f"multipleOf {step} is too fine for integers")
    return numerator  # n/d * d = n: the multiples of n/d that are integers are the multiples of n


def _within(value: float, schema: Mapping[str, Any]) -> bool:
    return bool(
        value >= schema.get("minimum", -math.inf)
        and value <= schema.get("maximum", math.inf)
        and value > schema.get("exclusiveMinimum", -math.inf)
        and value < schema.get("exclusiveMaximum", math.inf)
    )


def _is_multiple(value: float, step: float) -> bool:
    """`multipleOf` as jsonschema decides it (a float quotient must be whole)."""
    if isinstance(step, float) or isinstance(value, float):
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return value % step == 0


def _string(
    schema: Mapping[str, Any], known: Sequence[str], validator: Draft202012Validator, where: str
) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "format" in schema:
        if schema["format"] not in FORMATS:
            raise UnsupportedSchema(where, f"string format {schema['format']!r} not handled by the fuzzer")
        generated = FORMATS[schema["format"]]
    elif "pattern" in schema:
        generated = st.from_regex(schema["pattern"], fullmatch=True)
    else:
        generated = st.text(min_size=low, max_size=high if high is not None else low + TEXT_SIZE)
    # Lengths and patterns as the schema means them (a pattern matches anywhere; a format's strings may be long).
    generated = generated.filter(validator.is_valid)
    fitting = [value for value in known if "format" not in schema and validator.is_valid(value)]
    return st.one_of(st.sampled_from(fitting), generated) if fitting else generated


def _only_under(name: str, pattern: str | None, patterns: Mapping[str, Any], declared: set[str]) -> bool:
    """True when `name` is no declared property and matches `pattern` alone of `patterns` (or none, for None)."""
    matching = {candidate for candidate in patterns if re.search(candidate, name)}
    return name not in declared and matching == ({pattern} if pattern is not None else set())


def _is_free_string(schema: Mapping[str, Any] | bool) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "string" and not set(schema) & {
        "pattern", "format", "minLength", "maxLength", "enum", "const"}  # fmt: skip


def _decimal_number_branch(branches: list[Any]) -> Mapping[str, Any] | None:
    """The number branch of pydantic's `Decimal` (a number or any string), or None for another union."""
    numbers = [branch for branch in branches if isinstance(branch, Mapping) and branch.get("type") == "number"]
    if len(numbers) == 1 and any(_is_free_string(branch) for branch in branches):
        return numbers[0]
    return None


def _decimal_amounts(number: Mapping[str, Any]) -> st.SearchStrategy[Decimal]:
    """Amounts with `DECIMAL_PLACES` places within the bounds of a `Decimal`'s number branch."""
    low, _ = _bound(number, "minimum", "exclusiveMinimum", max)
    high, _ = _bound(number, "maximum", "exclusiveMaximum", min)
    return st.decimals(
        min_value=None if low is None else Decimal(str(low)),
        max_value=None if high is None else Decimal(str(high)),
        places=DECIMAL_PLACES,
        allow_nan=False,
        allow_infinity=False,
    ).filter(lambda amount: _within(float(amount), number))
