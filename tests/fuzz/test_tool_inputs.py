"""Every tool of every server, fuzzed with arguments drawn from its live `tools/list` input schema.

Through a real MCP client (in memory, `tests.helpers.mcp_client`) against the real Postgres:

- valid arguments (real ids of both tenants mixed in): the answer is a result or a clean JSON-RPC
  error, never an unexpected exception or a masked crash ("Error executing tool"), never a value
  another tenant owns; when the human declines nothing changes (but a pending approval for a call
  that waits for the approval page), when the human approves only the
  caller's tenant's rows may change;
- invalid arguments (a value the schema refuses, a required argument missing, an undeclared argument):
  an error (the JSON-RPC invalid-params error or a tool error), no question to the human, no row
  changed, one audit record.

Every tool's strategies are built from its schema before the first call (tests/fuzz/tool_strategies.py):
a tool with an argument the fuzzer cannot draw fails the test, naming it. Each drawn argument object is
also judged against the tool's schema (valid ones accepted, invalid ones refused), so a fault in the
strategies cannot pass for a fault, or a success, of the server.

Hypothesis runs in a worker thread and hands each call back to the test's event loop, where the
client and the admin connection live (`anyio.from_thread.run`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitResult
from securemcp.identity.principal import Identity, identity_from_roles

from deployment.policy import POLICY, ROLE_SCOPES
from deployment.registry import SERVERS
from fixtures.tenants import USERS
from supplychain.admin import admin_engine
from tests.fuzz.conftest import FUZZ
from tests.fuzz.schema_check import validator
from tests.fuzz.tenancy import Ledger, foreign_values, sent_values
from tests.fuzz.tool_strategies import tool_arguments
from tests.helpers import Human, mcp_client, without_approvals
from tests.server_cases import cases

pytestmark = [pytest.mark.usefixtures("seeded"), pytest.mark.slow]


class PagelessHuman(Human):
    """Answers form questions as told; cannot sign in on an approval page, so turns URL requests down
    (a verified call then answers with its pending approval)."""

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        if getattr(params, "mode", None) == "url":
            return ElicitResult(action="decline")
        return await super().__call__(context, params)


def caller(server: str) -> Identity:
    """The server's fuzz user (tests/<server>/cases.py) holding every role, so every tool is listed and callable."""
    user = cases(server).FUZZ_USER
    return identity_from_roles(policy=POLICY, tenant_id=USERS[user][0], user_id=user, roles=frozenset(ROLE_SCOPES))


@asynccontextmanager
async def ledger(admin_url: str) -> AsyncIterator[Ledger]:
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            yield Ledger(conn)
    finally:
        await engine.dispose()


class KnownValues(dict[str, list[str]]):
    """Every argument name gets the same real values (the schema's pattern keeps the fitting ones), so
    calls get past validation to the rows."""

    def get(self, key: str, default: Any = None) -> list[str]:  # type: ignore[override]
        return self["*"]


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[Any, MCPError | None]:
    try:
        return await client.call_tool(tool, arguments), None
    except MCPError as error:
        return None, error


def assert_clean(tool: str, result: Any, error: MCPError | None) -> str:
    """The answer is a tool result or a JSON-RPC error with a message; returns the text the client sees."""
    if error is not None:
        message = error.error.message
        assert message and "Traceback" not in message, (tool, message)
        return message
    assert result.content, (tool, result)
    shown = " ".join(getattr(block, "text", "") for block in result.content)
    # The SDK masks an unexpected exception as exactly "Error executing tool <name>": a crash.
    assert "Traceback" not in shown and shown != f"Error executing tool {tool}", (tool, shown[:300])
    return shown


def fuzz(cases: st.SearchStrategy[tuple[Any, ...]], check: Callable[..., Awaitable[None]]) -> None:
    """Run Hypothesis over `cases` (in this worker thread), each case checked on the test's event loop."""

    @FUZZ
    @given(cases)
    def run(case: tuple[Any, ...]) -> None:
        anyio.from_thread.run(check, *case)

    run()


# The activity log and the approvals show arguments the caller sent in earlier calls (`securemcp.gate.common_tools`).
SHOWS_EARLIER_ARGUMENTS = {"get_activity_log", "get_approval"}


@pytest.mark.parametrize("server", SERVERS)
async def test_valid_arguments_never_crash_leak_or_touch_another_tenant(admin_url: str, server: str) -> None:
    identity = caller(server)
    human = PagelessHuman()
    async with mcp_client(server, identity, human=human) as client, ledger(admin_url) as books:
        tools = (await client.list_tools()).tools
        owners = await books.owners()
        strategies = tool_arguments(
            server, {tool.name: tool.input_schema for tool in tools}, KnownValues({"*": sorted(owners)})
        )
        judges = {tool.name: validator(tool.input_schema) for tool in tools}
        sent: set[str] = set()
        made: list[str] = []

        async def one_call(tool: Any, arguments: dict[str, Any], approve: bool) -> None:
            assert judges[tool.name].is_valid(arguments), (tool.name, arguments)  # the strategy's own fault
            human.approve = approve
            before_all = await books.snapshot(server)
            before_others = await books.snapshot(server, except_tenant=identity.tenant_id)
            result, error = await call(client, tool.name, arguments)
            made.append(tool.name)
            assert_clean(tool.name, result, error)
            sent_now = sent_values(arguments)
            sent.update(sent_now)
            answer = (
                {"error": error.error.message}
                if error is not None
                else {"structured": result.structured_content, "text": [b.model_dump() for b in result.content]}
            )
            # Only the tools that show what was recorded earlier may echo values sent by earlier calls.
            echoed = sent if tool.name in SHOWS_EARLIER_ARGUMENTS else sent_now
            leaks = foreign_values(answer, tenant=identity.tenant_id, owners=owners, sent=echoed)
            assert leaks == [], (tool.name, arguments, leaks)
            if approve:
                assert await books.snapshot(server, except_tenant=identity.tenant_id) == before_others, tool.name
            else:  # nothing changes, except that a call waiting for the approval page records its approval
                pending = result is not None and (result.structured_content or {}).get("status") == "pending"
                after, expected = await books.snapshot(server), before_all
                if pending:  # its approval, and the idempotency key that names it
                    after, expected = ({k: v for k, v in tables.items() if k != "idempotency_keys"} for tables in (
                        without_approvals(after), without_approvals(expected)))  # fmt: skip
                assert after == expected, (tool.name, arguments)

        for tool in tools:
            side_effect = not (tool.annotations and tool.annotations.read_only_hint)
            approvals = st.booleans() if side_effect else st.just(False)

            cases = st.tuples(st.just(tool), strategies[tool.name].valid, approvals)
            await anyio.to_thread.run_sync(fuzz, cases, one_call)
    print(f"{server}: {len(made)} valid calls over {len(tools)} tools, {len(human.questions)} approvals asked")


@pytest.mark.parametrize("server", SERVERS)
async def test_invalid_arguments_get_a_clear_error_and_change_nothing(admin_url: str, server: str) -> None:
    identity = caller(server)
    human = Human()
    async with mcp_client(server, identity, human=human) as client, ledger(admin_url) as books:
        tools = (await client.list_tools()).tools
        known = KnownValues({"*": sorted(await books.owners())})
        strategies = tool_arguments(server, {tool.name: tool.input_schema for tool in tools}, known)
        judges = {tool.name: validator(tool.input_schema) for tool in tools}
        made: list[str] = []

        async def one_call(tool: Any, arguments: dict[str, Any]) -> None:
            assert not judges[tool.name].is_valid(arguments), (tool.name, arguments)  # the strategy's own fault
            before = await books.snapshot(server)
            records = await books.audit_count(server)
            result, error = await call(client, tool.name, arguments)
            made.append(tool.name)
            shown = assert_clean(tool.name, result, error)
            assert error is not None or result.is_error is True, (tool.name, arguments, shown[:200])
            assert human.questions == [], (tool.name, arguments)
            assert await books.snapshot(server) == before, (tool.name, arguments)
            assert await books.audit_count(server) == records + 1, (tool.name, arguments)

        for tool in tools:
            cases = st.tuples(st.just(tool), strategies[tool.name].refused)
            await anyio.to_thread.run_sync(fuzz, cases, one_call)
    print(f"{server}: {len(made)} invalid calls over {len(tools)} tools")
