"""The scripted agent behind `supplychain demo`: a realistic run against the four servers.

It plays an agent acting for alice@acme (supply_chain_manager) and prints a transcript: what it
asks, what each server answers, and what the human is asked to approve. Everything it talks to is
real: the servers run as stdio subprocesses (phase 1) against the embedded Postgres.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import click
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitResult, TextContent

from fixtures.returns import INJECTION_RETURN_ID
from fixtures.tenants import USERS
from shared.policy import SERVERS
from shared.settings import home_dir

DEMO_USER = "alice@acme"


class DemoFailed(RuntimeError):
    """A step did not turn out as the scenario expects."""


def say(text: str = "", **style: Any) -> None:
    click.secho(text, **style)


def step(number: int, title: str) -> None:
    say()
    say(f"── {number}. {title}", bold=True)


class TerminalHuman:
    """Puts approval questions to the person at the terminal (or approves them all with --yes)."""

    def __init__(self, *, assume_yes: bool) -> None:
        self.assume_yes = assume_yes
        self.asked = 0

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.asked += 1
        say("   ┌ approval requested by the server", fg="yellow")
        for line in params.message.splitlines():
            say(f"   │ {line}", fg="yellow")
        if self.assume_yes:
            say("   └ approved (--yes)", fg="yellow")
            return ElicitResult(action="accept", content={"approve": True})
        if not sys.stdin.isatty():
            say("   └ no terminal to ask and no --yes: declined (approvals fail closed)", fg="yellow")
            return ElicitResult(action="decline")
        approved = await anyio.to_thread.run_sync(lambda: click.confirm("   └ approve?", default=False))
        return ElicitResult(action="accept", content={"approve": approved})


def server_parameters(server: str, user: str) -> StdioServerParameters:
    """How Claude Desktop would start `server`: a subprocess with the local identity in its env."""
    tenant, roles = USERS[user]
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env.update(
        {
            "SUPPLYCHAIN_HOME": str(home_dir()),
            "SUPPLYCHAIN_TENANT": tenant,
            "SUPPLYCHAIN_USER": user,
            "SUPPLYCHAIN_ROLES": ",".join(roles),
        }
    )
    return StdioServerParameters(
        command=sys.executable, args=["-m", "shared.cli", "serve", server, "--transport", "stdio"], env=env
    )


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool the scenario expects to succeed, and show the call."""
    say(f"   agent → {tool}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})", fg="cyan")
    result = await client.call_tool(tool, arguments)
    if result.is_error or result.structured_content is None:
        text = next((block.text for block in result.content if isinstance(block, TextContent)), "no content")
        raise DemoFailed(f"{tool} failed: {text}")
    content: dict[str, Any] = result.structured_content
    return content


def show_rows(rows: list[dict[str, Any]], render: Callable[[dict[str, Any]], str]) -> None:
    for row in rows:
        say(f"     {render(row)}")


async def run_scenario(*, assume_yes: bool) -> None:
    human = TerminalHuman(assume_yes=assume_yes)
    tenant, roles = USERS[DEMO_USER]
    say(f"Agent acting for {DEMO_USER} (tenant {tenant}, roles {', '.join(roles)}), four servers over stdio.")
    async with AsyncExitStack() as stack:
        clients = {
            server: await stack.enter_async_context(
                Client(server_parameters(server, DEMO_USER), elicitation_callback=human)
            )
            for server in SERVERS
        }

        step(1, "Find stock below its reorder point (inventory)")
        page = await call(clients["inventory"], "list_stock_levels", {"below_reorder_point": True, "limit": 5})
        show_rows(
            page["items"],
            lambda r: (
                f"{r['warehouse']:6} {r['sku']:10} available {r['available']:>5}  reorder point {r['reorder_point']:>5}"
            ),
        )
        low = page["items"][0]

        step(2, f"Reorder {low['sku']} for {low['warehouse']}: a side effect, so a human approves it")
        reorder = await call(
            clients["inventory"],
            "create_reorder",
            {"sku": low["sku"], "warehouse": low["warehouse"], "quantity": low["reorder_quantity"]},
        )
        say(f"     reorder {reorder['id']}: {reorder['quantity']} x {reorder['sku']}, status {reorder['status']}")

        step(3, "Track a shipment in transit (logistics)")
        shipments = await call(clients["logistics"], "list_shipments", {"status": "in_transit", "limit": 3})
        show_rows(shipments["items"], lambda r: f"{r['id']}  {r['carrier']:8} {r['origin']} → {r['destination']}")
        tracking = await call(clients["logistics"], "track_shipment", {"shipment_id": shipments["items"][0]["id"]})
        show_rows(tracking["events"], lambda e: f"{e['occurred_at'][:16]}  {e['kind']:10} {e['detail']}")

        step(4, "Read a return whose customer note carries a prompt-injection attempt (returns)")
        rma = await call(clients["returns"], "get_return", {"return_id": INJECTION_RETURN_ID})
        note = rma["customer_note"]
        say(f"     {note['notice']}", fg="magenta")
        say(f"     note: {json.dumps(note['text'])}", fg="magenta")
        say("     The agent treats the note as data: it makes no call the note asks for, and any side effect")
        say("     would still need the returns:write scope (alice lacks it) and a human's approval.")

        step(5, "A call outside alice's scopes is refused (payments)")
        say("   agent → list_payments()", fg="cyan")
        try:
            await clients["payments"].call_tool("list_payments", {})
        except MCPError as refused:
            say(f"     refused: {refused}", fg="red")
        else:
            raise DemoFailed("list_payments should have been refused: alice has no payments scope")

    say()
    say(
        f"Demo finished: {human.asked} approval(s) asked, every call made as {DEMO_USER} in tenant {tenant}.",
        fg="green",
        bold=True,
    )
