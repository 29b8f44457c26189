"""Every argument of every tool of every registered server can be drawn, valid and refused, from its schema.

Fast (no database, no call): each server's tools/list as `supplychain tools snapshot` reads it. The slow
fuzz tests (test_tool_inputs.py) send these arguments to the servers; this test fails first, naming the
tool and the argument a new schema shape left out.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployment.registry import SERVERS
from supplychain.manifest import live_tools
from tests.fuzz.schema_check import validator
from tests.fuzz.tool_strategies import CannotFuzz, tool_arguments

EXAMPLES = settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("server", SERVERS)
async def test_every_tool_argument_can_be_drawn_valid_and_refused(server: str) -> None:
    schemas = {tool["name"]: tool["inputSchema"] for tool in await live_tools(server)}
    strategies = tool_arguments(server, schemas, {})
    for name, schema in schemas.items():
        _judge(name, validator(schema), strategies[name].valid, strategies[name].refused)


def _judge(name: str, judge: Any, valid: st.SearchStrategy[Any], refused: st.SearchStrategy[Any]) -> None:
    """Draws of `valid` the schema accepts, and draws of `refused` it refuses."""

    @EXAMPLES
    @given(valid, refused)
    def judged(accepted: dict[str, Any], refusal: dict[str, Any]) -> None:
        assert judge.is_valid(accepted), (name, accepted)
        assert not judge.is_valid(refusal), (name, refusal)

    judged()


def test_a_tool_with_an_argument_the_fuzzer_cannot_draw_fails_naming_the_tool_and_the_argument() -> None:
    readable = {"type": "object", "properties": {"limit": {"type": "integer"}}, "additionalProperties": False}
    unreadable = {
        "type": "object",
        "properties": {"item_ids": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}}},
        "additionalProperties": False,
    }
    expected = (
        "the fuzzer cannot draw arguments for:\n"
        "example.close_items: argument 'item_ids': item_ids[]: schema keywords not handled by the fuzzer: "
        "['contentEncoding']"
    )
    with pytest.raises(CannotFuzz) as raised:
        tool_arguments("example", {"list_items": readable, "close_items": unreadable}, {})
    assert str(raised.value) == expected
