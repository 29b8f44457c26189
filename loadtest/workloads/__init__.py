"""Each server's load-test workload: `loadtest/workloads/<server>.py`, found by the server's name.

A module defines who calls the server and what they call (`supplychain new-server` writes one):

- `AGENTS`: (tenant, fixture user) pairs; every user's roles must allow the tools it calls;
- `read(agent)`: the next read, as (tool, arguments); ids the agent listed earlier are at `agent.pick(tool)`;
- `write(agent)`: the next side effect as (tool, arguments), or None when this agent has none to make.

`loadtest.agents.workload` refuses a server without one, naming the file to write.
"""
