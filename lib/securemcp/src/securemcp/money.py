"""Money: exact decimal amounts in a currency, for every server (`Amount`, `Currency`, `to_cents`).

Money is `Decimal` end to end, never float: `numeric(14, 2)` in Postgres, `Decimal` in Python, and
in structured output a string with exactly two decimal places (`"1250.00"`), so no JSON parser on
the client can turn it into a binary float. A value with more than two decimal places is refused,
never rounded: rounding money silently is how cents go missing.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact
from enum import StrEnum
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")
# Inexact is a trap: quantizing a value that has more than two decimal places raises instead of rounding.
_EXACT_CENTS = Context(prec=28, traps=[Inexact])


def to_cents(value: Decimal) -> Decimal:
    """`value` with exactly two decimal places (`1E+2` -> `100.00`); raises `decimal.Inexact` rather than round."""
    return value.quantize(CENT, context=_EXACT_CENTS)


Amount = Annotated[
    Decimal,
    PlainSerializer(lambda value: str(to_cents(value)), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]+\.[0-9]{2}$",
            "description": "Exact decimal amount with two decimal places, e.g. '1250.00'",
        }
    ),
]
"""A money amount in results: a `Decimal` in Python, a two-decimal string in structured output."""


# The currencies a tenant may book in; each migration's CHECK constraint lists the same codes. (No
# docstring: it would become the description of every tool schema that names a currency.)
class Currency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"
