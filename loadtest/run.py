"""The load itself: wait until the private servers accept tokens, run the agents, check the invariants."""

from __future__ import annotations

import time

import anyio
import click
import httpx2

from deployment.registry import SERVERS
from loadtest.agents import Agent, Tally, roster
from loadtest.environment import Environment, mint
from loadtest.invariants import Check, check_database, check_http, check_resources, database_now, resources

# After the load, before "back near the start" is measured: longer than uvicorn's keep-alive timeout
# (5 s), after which it closes the idle connections clients (and HAProxy's connection reuse) left open.
SETTLE_SECONDS = 6.0


async def _wait_until_accepting(env: Environment, tokens: dict[tuple[str, str], str]) -> None:
    """Servers refuse every token until they hold the issuer's keys and a fresh revocation list."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}}  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/list"}  # fmt: skip
    async with httpx2.AsyncClient(timeout=5, verify=env.verify) as http:
        for (_user, server), token in tokens.items():
            deadline = time.monotonic() + 30
            while (await http.post(env.urls[server], json=body, headers={**headers, "Authorization": f"Bearer {token}"}
                                   )).status_code != 200:  # fmt: skip
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server} never accepted a token")
                await anyio.sleep(0.1)


async def run_load(env: Environment, agents: int, seconds: float) -> list[Check]:
    who = roster()
    tokens = {(user, server): mint(user, server) for _tenant, user, server in who}
    await _wait_until_accepting(env, tokens)
    before = await resources(env)
    since = await database_now(env.admin_url)
    tally = Tally()
    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for number in range(agents):
            tenant, user, server = who[number % len(who)]
            agent = Agent(tenant, user, server, env.urls[server], tokens[(user, server)], tally, verify=env.verify)
            group.start_soon(agent.run, started + seconds)
    elapsed = time.monotonic() - started
    calls = sum(tally.tool_calls.values())
    click.echo(
        f"load: {agents} agents, 2 tenants, {len(SERVERS)} servers, via {env.via}, {elapsed:.1f} s: "
        f"{calls} tool calls answered "
        f"({calls / elapsed:.0f}/s), outcomes {dict(tally.outcomes)}, {tally.retries} retried writes"
    )
    for message, count in tally.tool_errors.most_common(6):
        click.echo(f"  tool error x{count}: {message}")
    await anyio.sleep(SETTLE_SECONDS)
    after = await resources(env)
    return check_http(tally) + await check_database(env, tally, since) + check_resources(before, after)
