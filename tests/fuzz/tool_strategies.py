"""Each tool's two strategies, valid and refused arguments, built from its input schema before any call.

A tool with an argument the fuzzer cannot draw fails the test that fuzzes it, naming the server, the
tool and the argument: it is never skipped, so no tool goes unfuzzed unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.schema_refusals import invalid_arguments
from tests.fuzz.schema_strategies import Known, UnsupportedSchema, valid_arguments


@dataclass(frozen=True)
class ToolArguments:
    valid: st.SearchStrategy[dict[str, Any]]
    refused: st.SearchStrategy[dict[str, Any]]


class CannotFuzz(AssertionError):
    """Tools with arguments the fuzzer cannot draw (a test failure, never a skip)."""


def tool_arguments(server: str, schemas: Mapping[str, Mapping[str, Any]], known: Known) -> dict[str, ToolArguments]:
    """Tool name -> its strategies, from tool name -> input schema; raises `CannotFuzz` listing every tool
    and argument it cannot draw."""
    built: dict[str, ToolArguments] = {}
    problems: list[str] = []
    for tool, schema in schemas.items():
        try:
            built[tool] = ToolArguments(valid_arguments(schema, known), invalid_arguments(schema, known))
        except UnsupportedSchema as unsupported:
            problems.append(f"{server}.{tool}: argument {unsupported.argument!r}: {unsupported}")
    if problems:
        raise CannotFuzz("the fuzzer cannot draw arguments for:\n" + "\n".join(problems))
    return built
