"""Every side-effecting tool of every server is in the idempotency, approval and fuzzing coverage.

Those tests take their side effects from tests/<server>/cases.py; a tool added without its case there
would get none of them silently, so this test fails instead, naming the tool.
"""

from __future__ import annotations

import pytest

from deployment.registry import SERVERS
from supplychain.servers import server_module
from tests.fuzz import test_tool_inputs as fuzzing
from tests.server_cases import cases, declared_side_effects
from tests.shared import test_idempotency as idempotency
from tests.shared import test_side_effect_approvals as approvals


@pytest.mark.parametrize("server", SERVERS)
def test_every_side_effect_has_its_case(server: str) -> None:
    declared = set(declared_side_effects(server))
    assert declared, f"{server} declares no side effect: the coverage below would prove nothing"
    assert set(cases(server).SIDE_EFFECTS) == declared


@pytest.mark.parametrize("server", SERVERS)
def test_every_side_effect_is_retried_with_its_idempotency_key(server: str) -> None:
    covered = {tool for name, tool in [*idempotency.CONFIRM, *idempotency.ON_THE_PAGE] if name == server}
    assert covered == set(declared_side_effects(server))


@pytest.mark.parametrize("server", SERVERS)
def test_every_side_effect_is_declined_at_its_approval_level(server: str) -> None:
    assert {tool for name, tool in approvals.KEYS if name == server} == set(declared_side_effects(server))


@pytest.mark.parametrize("server", SERVERS)
def test_every_side_effect_is_listed_and_callable_for_the_fuzzer(server: str) -> None:
    """The fuzz tests call every tool `tools/list` shows their caller; the caller's roles must allow each."""
    caller = fuzzing.caller(server)
    scopes = {tool.name: tool.rule.scope for tool in server_module(server).TOOLS}
    for tool in declared_side_effects(server):
        assert caller.has_scope(scopes[tool]), (server, tool, scopes[tool])
