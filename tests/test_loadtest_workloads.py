"""Every registered server has a load-test workload, and its agents call only tools their roles allow."""

from __future__ import annotations

import pytest

from deployment.policy import scopes_for_roles
from deployment.registry import SERVERS
from fixtures.tenants import USERS
from loadtest.agents import Agent, Tally, roster, workload
from supplychain.servers import server_module


@pytest.mark.parametrize("server", SERVERS)
def test_each_agent_calls_only_tools_of_its_server_that_its_roles_allow(server: str) -> None:
    scopes = {tool.name: tool.rule.scope for tool in server_module(server).TOOLS}
    module = workload(server)
    assert module.AGENTS, f"{server} has no load-test agents"
    for tenant, user in module.AGENTS:
        assert USERS[user][0] == tenant, (server, user)
        allowed = scopes_for_roles(USERS[user][1])
        agent = Agent(tenant, user, server, "http://127.0.0.1:9/mcp", "not-a-token", Tally())
        for tool in scopes:  # as if every list had returned an id
            agent.ids[tool].append("id_" + "0" * 20)
        calls = [module.read(agent) for _ in range(200)] + [module.write(agent) for _ in range(50)]
        for tool, arguments in filter(None, calls):
            assert tool in scopes and scopes[tool] in allowed, (server, user, tool)
            assert isinstance(arguments, dict)


def test_the_roster_has_every_server_and_both_tenants() -> None:
    agents = roster()
    assert {server for _, _, server in agents} == set(SERVERS)
    assert {tenant for tenant, _, _ in agents} == {"acme", "globex"}


def test_a_server_without_a_workload_is_named_with_the_file_to_write() -> None:
    # Not a name anyone scaffolds: `supplychain new-server procurement` writes procurement's workload.
    expected = r"server 'not_registered' has no load-test workload: write loadtest/workloads/not_registered\.py"
    with pytest.raises(LookupError, match=expected):
        workload("not_registered")
