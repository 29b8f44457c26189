"""A JSON Schema validator that also checks string formats, the fuzzer's judge of its own strategies.

`jsonschema` checks `date`, `uuid`, `email`, `ipv4` and `ipv6` by itself; `date-time`, `time`,
`duration`, `uri` and `hostname` need optional packages this environment does not carry, and without a
checker a format is only an annotation. Those are checked here with pydantic's own types, the
validator a tool applies to the same string.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time, timedelta
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from pydantic import AnyUrl, AwareDatetime, TypeAdapter, ValidationError

_CHECKER = FormatChecker()
_BY_PYDANTIC: dict[str, TypeAdapter[Any]] = {
    "date-time": TypeAdapter(AwareDatetime),
    "time": TypeAdapter(time),
    "duration": TypeAdapter(timedelta),
    "uri": TypeAdapter(AnyUrl),
}


def _pydantic_reads(format_name: str) -> Any:
    adapter = _BY_PYDANTIC[format_name]

    def check(value: object) -> bool:
        if not isinstance(value, str):
            return True  # formats constrain strings only
        try:
            adapter.validate_python(value)
        except ValidationError:
            return False
        return True

    return check


for _name in _BY_PYDANTIC:
    _CHECKER.checks(_name)(_pydantic_reads(_name))


def _hostname(value: object) -> bool:
    if not isinstance(value, str):
        return True
    labels = value.rstrip(".").split(".")
    return 0 < len(value) <= 253 and all(
        0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-" and label.replace("-", "").isalnum()
        for label in labels
    )


_CHECKER.checks("hostname")(_hostname)


def validator(schema: Mapping[str, Any] | bool) -> Draft202012Validator:
    """A validator of `schema` (draft 2020-12, as pydantic writes it) that checks formats too."""
    return Draft202012Validator(schema, format_checker=_CHECKER)
