"""The fuzzer's strategy builders, on hand-written schemas of every shape a typed tool can produce.

For each shape: every value drawn as valid is one the schema accepts, and every value drawn as a
refusal is one it refuses (judged by `jsonschema`, formats included: tests/fuzz/schema_check.py).
Then the same through pydantic, from Python types: arguments drawn from the schema the MCP SDK
derives from a tool's signature are accepted by the SDK's own argument model, and refusals refused.
A shape the builders cannot read raises `UnsupportedSchema` naming where, when the strategy is built.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time, timedelta
from decimal import Decimal
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Annotated, Any, Literal
from uuid import UUID

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from mcp.server.mcpserver.utilities.func_metadata import func_metadata
from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, ValidationError

from tests.fuzz.schema_check import validator
from tests.fuzz.schema_refusals import invalid_arguments, invalid_value
from tests.fuzz.schema_strategies import UnsupportedSchema, valid_arguments, valid_value

EXAMPLES = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

LINE = {
    "type": "object",
    "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{2,8}$"}, "qty": {"type": "integer", "minimum": 1}},
    "required": ["sku", "qty"],
    "additionalProperties": False,
}
DEFS = {
    "Line": LINE,
    "Cat": {"type": "object", "properties": {"kind": {"const": "cat", "type": "string"}, "lives": {"type": "integer"}},
            "required": ["kind", "lives"]},
    "Dog": {"type": "object", "properties": {"kind": {"const": "dog", "type": "string"}, "name": {"type": "string"}},
            "required": ["kind", "name"]},
    "Node": {"type": "object", "required": ["value"],
             "properties": {"value": {"type": "integer"},
                            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}, "maxItems": 2}}},
    "Colour": {"enum": ["red", "blue"], "type": "string"},
}  # fmt: skip

SHAPES: dict[str, dict[str, Any]] = {
    "array with bounds and item pattern": {
        "type": "array", "items": {"type": "string", "pattern": "^it_[0-9a-f]{4}$"}, "minItems": 1, "maxItems": 3,
    },
    "set (uniqueItems)": {
        "type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}, "uniqueItems": True, "maxItems": 4,
    },
    "tuple (prefixItems)": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string", "maxLength": 3}],
                            "minItems": 2, "maxItems": 2},
    "array of nested objects": {"type": "array", "items": {"$ref": "#/$defs/Line"}, "maxItems": 3},
    "nested object, closed, required": {"$ref": "#/$defs/Line"},
    "recursive model": {"$ref": "#/$defs/Node"},
    "allOf": {"allOf": [{"type": "integer", "minimum": 0}, {"maximum": 5}]},
    "dict with key pattern and size": {
        "type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
        "propertyNames": {"pattern": "^[a-z]{1,5}$"}, "minProperties": 1, "maxProperties": 3,
    },
    "string enum": {"$ref": "#/$defs/Colour"},
    "integer enum": {"enum": [1, 2, 3], "type": "integer"},
    "const": {"const": "fast", "type": "string"},
    "optional (anyOf with null)": {"anyOf": [{"type": "string", "minLength": 2, "maxLength": 5}, {"type": "null"}]},
    "optional list": {"anyOf": [{"type": "array", "items": {"type": "integer"}, "minItems": 1}, {"type": "null"}]},
    "discriminated union (oneOf)": {"oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}],
                                    "discriminator": {"propertyName": "kind"}},
    "overlapping oneOf": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 10},
                                    {"type": "integer", "minimum": 5, "maximum": 20}]},
    "type list": {"type": ["string", "null"], "minLength": 2},
    "string with pattern and lengths": {"type": "string", "pattern": "^[A-Z0-9][A-Z0-9-]*$", "minLength": 3,
                                        "maxLength": 8},
    "free string": {"type": "string", "maxLength": 10},
    **{f"format {name}": {"type": "string", "format": name}
       for name in ("date-time", "date", "time", "duration", "uuid", "email", "uri", "hostname", "ipv4", "ipv6")},
    "number, both bounds open": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "integer, both bounds open": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
    "integer multipleOf": {"type": "integer", "multipleOf": 5, "minimum": -20, "maximum": 20},
    "number multipleOf": {"type": "number", "multipleOf": 0.25, "minimum": 0, "maximum": 10},
    "decimal (number or string)": {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                                             {"type": "string"}]},
    "boolean": {"type": "boolean"},
    "anything": {},
}  # fmt: skip
# Shapes where nothing is refused by both a JSON Schema validator and pydantic's lax mode.
NOTHING_SURELY_REFUSED = {"anything"}


def _root(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "$defs": DEFS}


def _every(strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    @EXAMPLES
    @given(strategy)
    def run(value: Any) -> None:
        check(value)

    run()


@pytest.mark.parametrize("shape", SHAPES)
def test_every_value_drawn_as_valid_is_accepted_by_the_schema(shape: str) -> None:
    root = _root(SHAPES[shape])
    judge = validator(root)
    _every(valid_value(root, root), lambda value: judge.validate(value))


@pytest.mark.parametrize("shape", sorted(set(SHAPES) - NOTHING_SURELY_REFUSED))
def test_every_value_drawn_as_a_refusal_is_refused_by_the_schema(shape: str) -> None:
    root = _root(SHAPES[shape])
    judge = validator(root)
    refusals = invalid_value(root, root)
    assert refusals is not None

    def refused(value: Any) -> None:
        assert not judge.is_valid(value), value

    _every(refusals, refused)


@pytest.mark.parametrize("shape", sorted(NOTHING_SURELY_REFUSED))
def test_a_shape_with_nothing_surely_refused_has_no_refusals(shape: str) -> None:
    assert invalid_value(_root(SHAPES[shape]), _root(SHAPES[shape])) is None


def test_a_bounded_array_is_drawn_at_both_bounds_and_refused_beyond_them_or_for_one_bad_item() -> None:
    schema = SHAPES["array with bounds and item pattern"]
    drawn = valid_value(schema)
    assert len(find(drawn, lambda values: len(values) == 1)) == 1
    assert len(find(drawn, lambda values: len(values) == 3)) == 3
    refusals = invalid_value(schema, schema)
    assert refusals is not None
    assert find(refusals, lambda value: value == []) == []
    assert len(find(refusals, lambda value: isinstance(value, list) and len(value) == 4)) == 4
    one_bad = find(refusals, lambda value: isinstance(value, list) and 1 <= len(value) <= 3)
    assert [item for item in one_bad if not validator(schema["items"]).is_valid(item)] != []


def test_an_overlapping_one_of_draws_from_both_branches_but_never_where_both_accept() -> None:
    drawn = valid_value(SHAPES["overlapping oneOf"])
    assert find(drawn, lambda value: value < 5) < 5 and find(drawn, lambda value: value > 10) > 10

    def in_one_branch_only(value: int) -> None:
        assert not 5 <= value <= 10, value

    _every(drawn, in_one_branch_only)


def test_a_decimal_is_drawn_as_amounts_with_two_places_as_text_or_number() -> None:
    drawn = valid_value(SHAPES["decimal (number or string)"])
    text = find(drawn, lambda value: isinstance(value, str))
    assert Decimal(text) == Decimal(text).quantize(Decimal("0.01")) and 0 < Decimal(text) <= 1000

    def two_places_at_most(value: Any) -> None:
        exponent = Decimal(str(value)).as_tuple().exponent
        assert isinstance(exponent, int) and exponent >= -2, value

    _every(drawn, two_places_at_most)


def test_known_values_are_drawn_for_the_items_of_the_argument_of_that_name() -> None:
    schema = {"type": "object", "properties": {"item_ids": SHAPES["array with bounds and item pattern"]}}
    drawn = valid_arguments(schema, {"item_ids": ["it_beef", "not an id"]})
    assert "it_beef" in find(drawn, lambda found: "it_beef" in found.get("item_ids", []))["item_ids"]

    def only_fitting_values(found: dict[str, Any]) -> None:
        assert "not an id" not in found.get("item_ids", []), found

    _every(drawn, only_fitting_values)


@pytest.mark.parametrize(
    ("schema", "where", "problem"),
    [
        ({"type": "string", "contentEncoding": "base64"}, "lines[].sku", "keywords not handled by the fuzzer"),
        ({"type": "string", "format": "iri-reference"}, "lines[].sku", "string format 'iri-reference'"),
        ({"not": {"type": "null"}}, "lines[].sku", "keywords not handled by the fuzzer: ['not']"),
        ({"$ref": "https://example.invalid/sku.json"}, "lines[].sku", "only local references"),
        ({"type": "decimal"}, "lines[].sku", "unknown type ['decimal']"),
    ],
)
def test_a_shape_it_cannot_draw_names_the_argument_when_the_strategy_is_built(
    schema: dict[str, Any], where: str, problem: str
) -> None:
    arguments = {
        "type": "object",
        "properties": {"lines": {"type": "array", "items": {"type": "object", "properties": {"sku": schema}}}},
    }
    for build in (valid_arguments, invalid_arguments):
        with pytest.raises(UnsupportedSchema) as raised:
            build(arguments, {})  # built, never drawn: the failure comes before any example
        assert (raised.value.where, raised.value.argument) == (where, "lines") and problem in raised.value.problem


# --- Through pydantic: a tool's signature, the schema the MCP SDK derives from it, the SDK's own validation.


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Annotated[str, Field(pattern=r"^[A-Z]{2,8}$")]
    quantity: Annotated[int, Field(ge=1, le=99)]


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    name: Annotated[str, Field(max_length=20)]


class Node(BaseModel):
    value: int
    children: Annotated[list[Node], Field(max_length=2)] = []


ItemId = Annotated[str, Field(pattern=r"^it_[0-9a-f]{20}$")]
Amount = Annotated[Decimal, Field(gt=0, le=Decimal(1000000), decimal_places=2)]


async def every_shape(  # a tool's signature: the SDK derives the input schema and the validation from it
    item_ids: Annotated[list[ItemId], Field(min_length=1, max_length=5)],
    amount: Amount,
    lines: list[Line] | None = None,
    tags: Annotated[set[Annotated[str, Field(max_length=8)]], Field(max_length=4)] = set(),  # noqa: B006
    pair: tuple[int, str] | None = None,
    ratio: Annotated[float, Field(gt=0, lt=1, multiple_of=0.25)] = 0.5,
    step: Annotated[int, Field(multiple_of=5, ge=0, lt=100)] = 0,
    day: date | None = None,
    moment: AwareDatetime | None = None,
    clock: time | None = None,
    wait: timedelta | None = None,
    uid: UUID | None = None,
    email: EmailStr | None = None,
    url: AnyUrl | None = None,
    address: IPv4Address | None = None,
    mode: Literal["fast", "slow"] = "fast",
    fixed: Literal["only"] = "only",
    colour: Colour = Colour.red,
    pet: Annotated[Cat | Dog, Field(discriminator="kind")] | None = None,
    counts: Annotated[dict[Annotated[str, Field(pattern=r"^[a-z]+$")], int], Field(max_length=3)] = {},  # noqa: B006
    tree: Node | None = None,
    flag: bool = False,
) -> None:
    """Every argument shape at once."""


META = func_metadata(every_shape)
SCHEMA = {**META.arg_model.model_json_schema(), "additionalProperties": False}  # as the tool gate lists it


def _accepted_by_the_sdk(arguments: dict[str, Any]) -> bool:
    """The SDK's own validation of a call's arguments; an undeclared one the tool gate refuses first."""
    if set(arguments) - set(SCHEMA["properties"]):
        return False
    try:
        META.arg_model.model_validate(META.pre_parse_json(arguments))
    except ValidationError:
        return False
    return True


def test_arguments_drawn_from_a_typed_tools_schema_are_accepted_by_the_sdk() -> None:
    judge = validator(SCHEMA)

    def accepted(found: dict[str, Any]) -> None:
        judge.validate(found)
        assert _accepted_by_the_sdk(found), found

    _every(valid_arguments(SCHEMA, {}), accepted)


def test_arguments_drawn_as_refusals_of_a_typed_tools_schema_are_refused_by_the_sdk_and_the_schema() -> None:
    judge = validator(SCHEMA)

    def refused(found: dict[str, Any]) -> None:
        assert not _accepted_by_the_sdk(found), found
        assert not judge.is_valid(found), found

    _every(invalid_arguments(SCHEMA, {}), refused)
