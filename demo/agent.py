"""The scripted agent behind `supplychain demo`: a realistic run against the four servers.

It plays an agent acting for alice@acme (supply_chain_manager) and prints a transcript: what it
asks, what each server answers, and what the human is asked to approve. Everything it talks to is
real, against the embedded Postgres:

- over HTTP (phase 2, the default): the dev authorization server and the four servers run as
  processes on loopback; the agent gets one token per server the way a real agent does (the MCP SDK's
  OAuth client: metadata discovery, registration, PKCE, a resource indicator per server) and steps
  up to a write scope when a server answers 403 `insufficient_scope`;
- behind the gateway (phase 3, `--transport gateway`): the same, through HAProxy on 127.0.0.1:8443
  with two replicas of each server; OAuth discovery, the step-up and the approval all cross it;
- over stdio (phase 1): each server is a subprocess under the configured local identity.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import click
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitResult, TextContent
from pydantic import AnyUrl

from demo.browser import ScriptedBrowser
from demo.four_eyes import REQUESTER as FOUR_EYES_REQUESTER
from demo.four_eyes import run_four_eyes
from demo.stack import Stack, running_gateway, running_stack
from deployment.registry import SERVERS
from fixtures.returns import INJECTION_RETURN_ID
from fixtures.tenants import USERS
from supplychain.servers import server_parameters
from supplychain.terminal import printable

DEMO_USER = "alice@acme"
# The scripted browser captures the redirect itself, so nothing needs to listen on this address.
DEMO_REDIRECT_URI = "http://127.0.0.1:33418/callback"
Refusal = Callable[[], Awaitable[str]]
Steps = Callable[[], Awaitable[None]]


class DemoFailed(RuntimeError):
    """A step did not turn out as the scenario expects."""


def say(text: str = "", **style: Any) -> None:
    # Results carry outside text (a carrier's scan detail): it is shown escaped, one line, never as terminal codes.
    click.secho(printable(text), **style)


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


class MemoryTokenStorage(TokenStorage):
    """Tokens and the client registration for one server, kept for the life of the run."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def http_client(url: str, browser: ScriptedBrowser, human: TerminalHuman, ca_file: Path | None = None) -> Client:
    """An MCP client for `url` whose HTTP client authenticates with the SDK's OAuth provider (and trusts
    `ca_file` for TLS, when given)."""
    oauth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="supplychain demo agent",
            redirect_uris=[AnyUrl(DEMO_REDIRECT_URI)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",  # noqa: S106 (a public client: no secret at all)
        ),
        storage=MemoryTokenStorage(),
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    transport = streamable_http_client(url, http_client=httpx2.AsyncClient(auth=oauth, timeout=30.0, verify=verify))
    return Client(transport, elicitation_callback=human)


async def run_http(*, assume_yes: bool, base_port: int, via_gateway: bool = False, gateway_port: int = 8443) -> None:
    """The scenario over HTTP with OAuth, against a stack of processes started for the run (phase 2), or
    the same behind the HAProxy gateway with two replicas per server (phase 3, `via_gateway`)."""
    human = TerminalHuman(assume_yes=assume_yes)
    # Step 5's refusal is expected; the transcript shows it, so the SDK need not log it as an error.
    logging.getLogger("mcp.client.auth.oauth2").setLevel(logging.CRITICAL)
    with running_gateway(base_port, gateway_port) if via_gateway else running_stack(base_port) as stack:
        say(f"Authorization server {stack.issuer}; servers " + ", ".join(stack.server_urls.values()))
        browser = ScriptedBrowser(DEMO_USER, stack.issuer, lambda line: say(line, fg="blue"))
        try:
            async with AsyncExitStack() as clients:
                connected: dict[str, Client] = {}
                for server in ("inventory", "logistics", "returns"):
                    say(f"── connecting to {server}", dim=True)
                    client = http_client(stack.server_urls[server], browser, human, stack.ca_file)
                    connected[server] = await clients.enter_async_context(client)
                fred_browser = ScriptedBrowser(FOUR_EYES_REQUESTER, stack.issuer, lambda line: say(line, fg="blue"))
                clients.push_async_callback(fred_browser.aclose)
                verify = ssl.create_default_context(cafile=str(stack.ca_file)) if stack.ca_file else True

                async def four_eyes() -> None:
                    say("── connecting to payments as fred@acme", dim=True)
                    fred = await clients.enter_async_context(
                        http_client(stack.server_urls["payments"], fred_browser, human, stack.ca_file)
                    )
                    await run_four_eyes(fred, call=call, step=step, say=say, verify=verify)

                refused = _payments_refused_over_http(stack, browser, human)
                await run_scenario(connected, human, refused=refused, more=four_eyes)
        finally:
            await browser.aclose()


def _payments_refused_over_http(stack: Stack, browser: ScriptedBrowser, human: TerminalHuman) -> Refusal:
    async def refused() -> str:
        try:
            async with http_client(stack.server_urls["payments"], browser, human, stack.ca_file) as client:
                await client.call_tool("list_payments", {})
        except Exception as exc:  # any refusal will do; its message is shown
            return _innermost_message(exc)
        raise DemoFailed("payments should have refused alice: she holds no payments scope")

    return refused


async def run_stdio(*, assume_yes: bool) -> None:
    """The scenario over stdio: each server a subprocess under the local identity."""
    human = TerminalHuman(assume_yes=assume_yes)
    async with AsyncExitStack() as stack:
        clients = {
            server: await stack.enter_async_context(
                Client(server_parameters(server, DEMO_USER), elicitation_callback=human)
            )
            for server in SERVERS
        }

        async def refused() -> str:
            try:
                await clients["payments"].call_tool("list_payments", {})
            except MCPError as refusal:
                return str(refusal)
            raise DemoFailed("list_payments should have been refused: alice has no payments scope")

        await run_scenario({name: clients[name] for name in ("inventory", "logistics", "returns")}, human, refused)


def _innermost_message(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


async def run_scenario(
    clients: dict[str, Client],
    human: TerminalHuman,
    refused: Refusal,
    more: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The five steps, whatever the transport; `refused` attempts the payments call alice may not make;
    `more` runs the further steps (the four-eyes approval, over HTTP)."""
    tenant, roles = USERS[DEMO_USER]
    say(f"Agent acting for {DEMO_USER} (tenant {tenant}, roles {', '.join(roles)}).")

    step(1, "Find stock below its reorder point (inventory)")
    page = await call(clients["inventory"], "list_stock_levels", {"below_reorder_point": True, "limit": 5})
    show_rows(page["items"], lambda r: f"{r['warehouse']:6} {r['sku']:10} available {r['available']:>5}"
              f"  reorder point {r['reorder_point']:>5}")  # fmt: skip
    low = page["items"][0]

    step(2, f"Reorder {low['sku']} for {low['warehouse']}: a side effect, so a human approves it")
    arguments = {"sku": low["sku"], "warehouse": low["warehouse"], "quantity": low["reorder_quantity"]}
    reorder = await call(clients["inventory"], "create_reorder", arguments)
    say(f"     reorder {reorder['id']}: {reorder['quantity']} x {reorder['sku']}, status {reorder['status']}")

    step(3, "Track a shipment in transit (logistics)")
    shipments = await call(clients["logistics"], "list_shipments", {"status": "in_transit", "limit": 3})
    show_rows(shipments["items"], lambda r: f"{r['id']}  {r['carrier']:8} {r['origin']} → {r['destination']}")
    tracking = await call(clients["logistics"], "track_shipment", {"shipment_id": shipments["items"][0]["id"]})
    show_rows(tracking["events"], lambda e: f"{e['occurred_at'][:16]}  {e['kind']:10} {e['detail']['text']}")

    step(4, "Read a return whose customer note carries a prompt-injection attempt (returns)")
    note = (await call(clients["returns"], "get_return", {"return_id": INJECTION_RETURN_ID}))["customer_note"]
    say(f"     {note['notice']}", fg="magenta")
    say(f"     note: {json.dumps(note['text'])}", fg="magenta")
    say("     The agent treats the note as data: it makes no call the note asks for, and any side effect")
    say("     would still need the returns:write scope (alice lacks it) and a human's approval.")

    step(5, "A call outside alice's scopes is refused (payments)")
    say("   agent → list_payments()", fg="cyan")
    say(f"     refused: {await refused()}", fg="red")

    if more is not None:
        await more()
    say()
    say(f"Demo finished: {human.asked} approval(s) asked, every call of {DEMO_USER}'s agent made in tenant {tenant}.",
        fg="green", bold=True)  # fmt: skip
