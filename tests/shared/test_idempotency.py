"""Idempotency keys: a retry returns the first result and changes nothing; concurrent duplicates run once.

Real Postgres, real MCP clients (one fresh client per call, like a client that reconnects to retry).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp_types import ElicitResult
from securemcp.audit.records import canonical_json
from securemcp.identity.principal import identity_from_roles
from securemcp.tenancy.database import create_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from deployment.policy import POLICY
from supplychain.admin import admin_engine
from tests.helpers import Human, admin_rows, decide_as, decider, mcp_client, snapshot, verify_audit
from tests.inventory.cases import REORDER
from tests.server_cases import asked_in_band, side_effects

pytestmark = pytest.mark.usefixtures("seeded")

KEY = "retry-7f3c2a91-0b5e"


# Every side effect of every server (tests/<server>/cases.py), by where its human decides.
SIDE_EFFECTS = side_effects()
CONFIRM = [key for key in SIDE_EFFECTS if asked_in_band(*key)]  # asked in band
ON_THE_PAGE = [key for key in SIDE_EFFECTS if not asked_in_band(*key)]  # verified or four_eyes: always pending


def _ids(keys: list[tuple[str, str]]) -> list[str]:
    return [f"{server}.{tool}" for server, tool in keys]


async def _call(server: str, user: Any, tool: str, arguments: dict[str, Any], human: Human | None = None) -> Any:
    async with mcp_client(server, user, human=human) as client:
        return await client.call_tool(tool, arguments)


async def _last_seq(admin_url: str, schema: str) -> int:
    [(seq,)] = await admin_rows(admin_url, f"SELECT coalesce(max(seq), 0) FROM {schema}.audit_log")
    return int(seq)


async def _records(admin_url: str, schema: str, after: int) -> list[tuple[Any, ...]]:
    """(tool, user, decision, outcome, approval_id) of the audit records written after seq `after`."""
    sql = f"SELECT tool, user_id, decision, outcome, approval_id FROM {schema}.audit_log WHERE seq > :s ORDER BY seq"
    return await admin_rows(admin_url, sql, s=after)


def _text(result: Any) -> str:
    return str(result.content[0].text)


@pytest.mark.parametrize(("server", "tool"), CONFIRM, ids=_ids(CONFIRM))
async def test_retry_returns_the_first_result_and_changes_nothing(admin_url: str, server: str, tool: str) -> None:
    case = SIDE_EFFECTS[(server, tool)]
    start = await _last_seq(admin_url, server)
    human = Human()
    first = await _call(server, case.user, tool, {**case.arguments, "idempotency_key": KEY}, human)
    assert first.is_error is False, first.content
    after_first = await snapshot(admin_url, server)

    retry = await _call(server, case.user, tool, {**case.arguments, "idempotency_key": KEY}, human)
    assert retry.is_error is False, retry.content
    assert (retry.structured_content, _text(retry)) == (first.structured_content, _text(first))
    assert len(human.questions) == 1  # the retry asked nobody
    assert await snapshot(admin_url, server) == after_first

    reused = await _call(server, case.user, tool, {**case.changed, "idempotency_key": KEY}, human)
    assert reused.is_error is True
    assert _text(reused) == (
        f"idempotency key {KEY!r} was already used for a {tool} call with different arguments; "
        "use a new key for a new action; nothing changed"
    )
    assert len(human.questions) == 1
    assert await snapshot(admin_url, server) == after_first

    rows = await admin_rows(
        admin_url,
        f"SELECT tenant_id, user_id, tool, key, approval_id FROM {server}.idempotency_keys",
    )
    assert rows == [(case.user.split("@")[1], case.user, tool, KEY, None)]
    assert await _records(admin_url, server, start) == [
        (tool, case.user, "pending", "ok", None),  # 2026-07-28: the round that asks the human
        (tool, case.user, "approved", "ok", None),
        (tool, case.user, "replayed", "ok", None),
        (tool, case.user, "not_required", "refused", None),
    ]
    assert (await verify_audit(admin_url, server))[1] == []


@pytest.mark.parametrize(("server", "tool"), ON_THE_PAGE, ids=_ids(ON_THE_PAGE))
async def test_retry_of_a_call_decided_on_the_page_returns_its_pending_approval(
    admin_url: str, server: str, tool: str
) -> None:
    case = SIDE_EFFECTS[(server, tool)]
    start = await _last_seq(admin_url, server)
    first = await _call(server, case.user, tool, {**case.arguments, "idempotency_key": KEY})
    approval_id = first.structured_content["approval_id"]
    after_first = await snapshot(admin_url, server)
    retry = await _call(server, case.user, tool, {**case.arguments, "idempotency_key": KEY})
    assert (retry.structured_content, _text(retry)) == (first.structured_content, _text(first))
    reused = await _call(server, case.user, tool, {**case.changed, "idempotency_key": KEY})
    assert reused.is_error is True and _text(reused).startswith(f"idempotency key {KEY!r} was already used")
    assert await snapshot(admin_url, server) == after_first  # no second approval, nothing else
    assert await _records(admin_url, server, start) == [
        (tool, case.user, "pending", "ok", approval_id),
        (tool, case.user, "replayed", "ok", approval_id),
        (tool, case.user, "not_required", "refused", None),
    ]


class WaitingHuman(Human):
    """Says yes only once `expected` questions wait together, so every call is past the key's first look-up."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.all_asked = anyio.Event()

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        if len(self.questions) >= self.expected:
            self.all_asked.set()
        with anyio.fail_after(60):
            await self.all_asked.wait()
        return ElicitResult(action="accept", content={"approve": True})


@pytest.mark.parametrize(
    ("tool", "mode", "effect_rows"),
    [
        ("create_reorder", "auto", "SELECT id FROM inventory.reorders WHERE quantity = 7"),
        ("create_reorder", "legacy", "SELECT id FROM inventory.reorders WHERE quantity = 7"),
    ],
)
async def test_twenty_concurrent_identical_calls_have_one_effect(
    admin_url: str, tool: str, mode: str, effect_rows: str
) -> None:
    case, server = SIDE_EFFECTS[("inventory", tool)], "inventory"
    start = await _last_seq(admin_url, server)
    human = WaitingHuman(expected=20)
    results: list[Any] = []

    async def replica(calls: int) -> None:  # one server process with its own pool, several calls at once
        async with (
            mcp_client(server, case.user, human=human, mode=mode) as client,
            anyio.create_task_group() as group,
        ):
            for _ in range(calls):

                async def call() -> None:
                    results.append(await client.call_tool(tool, {**case.arguments, "idempotency_key": KEY}))

                group.start_soon(call)

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(replica, 5)

    assert len(human.questions) == 20  # all twenty passed the first look-up together: the lock decided
    assert [result.is_error for result in results] == [False] * 20, [r.content for r in results if r.is_error]
    # The same answer for all twenty (JSON objects compared as such: the stored copy's key order may differ).
    assert len({(canonical_json(result.structured_content), _text(result)) for result in results}) == 1
    assert len(await admin_rows(admin_url, effect_rows)) == 1
    records = await _records(admin_url, server, start)
    assert sorted(records) == sorted(
        [(tool, case.user, "pending", "ok", None)] * (20 if mode == "auto" else 0)  # 2026-07-28: the asking rounds
        + [(tool, case.user, "approved", "ok", None)]
        + [(tool, case.user, "replayed", "ok", None)] * 19
    )
    assert (await verify_audit(admin_url, server))[1] == []


async def test_twenty_concurrent_out_of_band_calls_leave_one_pending_approval(admin_url: str) -> None:
    start = await _last_seq(admin_url, "inventory")
    arguments = {**REORDER, "idempotency_key": KEY}
    results: list[Any] = []

    async def call() -> None:
        results.append(await _call("inventory", "alice@acme", "create_reorder", arguments))

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(call)

    [(approval_id,)] = await admin_rows(admin_url, "SELECT id FROM inventory.pending_approvals")
    assert [result.structured_content["approval_id"] for result in results] == [approval_id] * 20
    decisions = sorted(record[2:] for record in await _records(admin_url, "inventory", start))
    assert decisions == [("pending", "ok", approval_id)] + [("replayed", "ok", approval_id)] * 19
    assert (await verify_audit(admin_url, "inventory"))[1] == []


async def test_out_of_band_retry_returns_the_pending_approval_then_its_executed_result(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    arguments = {**REORDER, "idempotency_key": KEY}
    pending = await _call("inventory", "alice@acme", "create_reorder", arguments)
    approval_id = pending.structured_content["approval_id"]
    before = await snapshot(admin_url, "inventory")

    again = await _call("inventory", "alice@acme", "create_reorder", arguments)
    assert (again.structured_content, _text(again)) == (pending.structured_content, _text(pending))
    assert await snapshot(admin_url, "inventory") == before  # no second approval, nothing else

    decided = await decide_as(server_urls, "inventory", decider("alice@acme"), approval_id, "approve")
    assert decided.status == "executed"
    after_execution = await snapshot(admin_url, "inventory")

    executed = await _call("inventory", "alice@acme", "create_reorder", arguments)
    assert executed.is_error is False, executed.content
    status = executed.structured_content
    assert (status["approval_id"], status["status"], status["decided_by"]) == (approval_id, "executed", "alice@acme")
    assert status["result"] == decided.model_dump(mode="json")["result"]
    assert status["result"]["quantity"] == 7
    assert "approved by alice@acme on the approval page and executed once" in _text(executed)
    assert await snapshot(admin_url, "inventory") == after_execution
    assert len(await admin_rows(admin_url, "SELECT id FROM inventory.reorders WHERE quantity = 7")) == 1


async def test_a_denied_approval_frees_the_key(admin_url: str, server_urls: dict[str, str]) -> None:
    arguments = {**REORDER, "idempotency_key": KEY}
    first = (await _call("inventory", "alice@acme", "create_reorder", arguments)).structured_content["approval_id"]
    await decide_as(server_urls, "inventory", decider("alice@acme"), first, "deny")
    second = (await _call("inventory", "alice@acme", "create_reorder", arguments)).structured_content["approval_id"]
    assert second != first
    rows = await admin_rows(admin_url, "SELECT approval_id FROM inventory.idempotency_keys WHERE key = :k", k=KEY)
    assert rows == [(second,)]


async def test_a_declined_call_does_not_consume_the_key(admin_url: str) -> None:
    arguments = {**REORDER, "idempotency_key": KEY}
    declined = await _call("inventory", "alice@acme", "create_reorder", arguments, Human(approve=False))
    assert declined.is_error is True and "not approved" in _text(declined)
    assert await admin_rows(admin_url, "SELECT * FROM inventory.idempotency_keys") == []
    human = Human()
    approved = await _call("inventory", "alice@acme", "create_reorder", arguments, human)
    assert approved.is_error is False and len(human.questions) == 1  # asked again, and it ran
    assert len(await admin_rows(admin_url, "SELECT id FROM inventory.reorders WHERE quantity = 7")) == 1


async def test_an_expired_key_is_ignored(admin_url: str) -> None:
    arguments = {**REORDER, "idempotency_key": KEY}
    first = await _call("inventory", "alice@acme", "create_reorder", arguments, Human())
    engine = admin_engine(admin_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE inventory.idempotency_keys SET created_at = now() - interval '25 hours', "
                    "expires_at = now() - interval '1 hour'"
                )
            )
    finally:
        await engine.dispose()
    second = await _call("inventory", "alice@acme", "create_reorder", arguments, Human())
    assert second.structured_content["id"] != first.structured_content["id"]
    rows = await admin_rows(admin_url, "SELECT count(*), bool_and(expires_at > now()) FROM inventory.idempotency_keys")
    assert rows == [(1, True)]


async def test_the_same_key_of_another_tenant_or_user_is_another_key(admin_url: str) -> None:
    carol = identity_from_roles(
        policy=POLICY,
        tenant_id="acme",
        user_id="carol@acme",
        roles=frozenset({"supply_chain_manager"}),
        read_only_mode=False,
    )
    globex = {"sku": "TAPE-48", "warehouse": "CHI-1", "quantity": 7}
    results = [
        await _call("inventory", "alice@acme", "create_reorder", {**REORDER, "idempotency_key": KEY}, Human()),
        await _call("inventory", carol, "create_reorder", {**REORDER, "idempotency_key": KEY}, Human()),
        await _call("inventory", "bob@globex", "create_reorder", {**globex, "idempotency_key": KEY}, Human()),
    ]
    assert [result.is_error for result in results] == [False, False, False], [r.content for r in results]
    assert len({result.structured_content["id"] for result in results}) == 3  # three calls, three reorders
    rows = await admin_rows(admin_url, "SELECT tenant_id, user_id FROM inventory.idempotency_keys ORDER BY user_id")
    assert rows == [("acme", "alice@acme"), ("globex", "bob@globex"), ("acme", "carol@acme")]


@pytest.mark.parametrize(
    "key",
    [
        "short",
        "x" * 129,
        "has space-123",
        "semi;colon-123",
        "ключ-12345678",
        "nul\x00-12345678",
        "new\nline-1234",
        "%2e%2e%2f-12345678",
        12345678,
        ["key-12345678"],
    ],
)
async def test_a_malformed_key_is_refused_before_anything_happens(admin_url: str, key: Any) -> None:
    before = await snapshot(admin_url, "inventory")
    human = Human()
    result = await _call("inventory", "alice@acme", "create_reorder", {**REORDER, "idempotency_key": key}, human)
    assert result.is_error is True
    assert _text(result).startswith("Error executing tool create_reorder: 1 validation error")
    assert "idempotency_key" in _text(result)
    assert human.questions == []
    assert await snapshot(admin_url, "inventory") == before


@pytest.mark.parametrize("statement", ["DELETE FROM inventory.idempotency_keys", "TRUNCATE inventory.idempotency_keys"])
async def test_the_server_role_cannot_remove_keys(server_urls: dict[str, str], statement: str) -> None:
    engine = create_engine(server_urls["inventory"])
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied"):
                async with conn.begin():
                    await conn.execute(text("SELECT set_config('app.tenant_id', 'acme', true)"))
                    await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("table", ["audit_log", "idempotency_keys"])
async def test_effect_key_and_record_commit_together_or_not_at_all(admin_url: str, table: str) -> None:
    before = await snapshot(admin_url, "inventory")
    arguments = {**REORDER, "idempotency_key": KEY}
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f"REVOKE INSERT ON inventory.{table} FROM inventory_svc")
        failed = await _call("inventory", "alice@acme", "create_reorder", arguments, Human())
    finally:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f"GRANT INSERT ON inventory.{table} TO inventory_svc")
        await engine.dispose()
    assert (failed.is_error, _text(failed)) == (
        True,
        "create_reorder could not be recorded in the audit trail; nothing changed",
    )
    assert await snapshot(admin_url, "inventory") == before  # no reorder, no key row
    retried = await _call("inventory", "alice@acme", "create_reorder", arguments, Human())
    assert retried.is_error is False, retried.content  # the key was not consumed: the retry runs
    assert len(await admin_rows(admin_url, "SELECT id FROM inventory.reorders WHERE quantity = 7")) == 1


async def test_the_key_lifetime_is_the_deployments_setting(monkeypatch: pytest.MonkeyPatch, admin_url: str) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_IDEMPOTENCY_TTL_HOURS", "2")
    result = await _call("inventory", "alice@acme", "create_reorder", {**REORDER, "idempotency_key": KEY})
    assert not result.is_error, result
    rows = await admin_rows(
        admin_url, "SELECT expires_at - created_at FROM inventory.idempotency_keys WHERE key = :k", k=KEY
    )
    assert [str(lifetime) for (lifetime,) in rows] == ["2:00:00"]


@pytest.mark.parametrize("value", ["0", "169", "a day"])
async def test_a_key_lifetime_out_of_range_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """Checked when the server starts: a bad value must not surface later as failed writes."""
    from supplychain.servers import load_settings

    monkeypatch.setenv("SUPPLYCHAIN_IDEMPOTENCY_TTL_HOURS", value)
    with pytest.raises(ValueError, match="idempotency_ttl_hours"):
        load_settings("inventory")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_retry_after_declining_the_approval_page_returns_the_same_pending_answer(
    admin_url: str, mode: str
) -> None:
    """A client that can open URLs declines the page (the load test's agents do), then retries with the key."""
    server, case = "logistics", SIDE_EFFECTS[("logistics", "reroute_shipment")]
    arguments = {**case.arguments, "idempotency_key": KEY}
    start = await _last_seq(admin_url, server)
    answers = []
    for _ in range(2):
        async with mcp_client(server, case.user, human=Human(action="decline"), mode=mode) as client:
            answers.append(await client.call_tool("reroute_shipment", arguments))
    first, retry = answers
    assert first.is_error is False and first.structured_content["status"] == "pending", first.content
    assert canonical_json(retry.structured_content) == canonical_json(first.structured_content)
    # The same sentence; the JSON after it is a fresh rendering (fence marker, key order) of the same content.
    assert _text(retry).split("\n\n")[0] == _text(first).split("\n\n")[0]
    [(approval_id,)] = await admin_rows(admin_url, "SELECT id FROM logistics.pending_approvals")
    asked = [("reroute_shipment", case.user, "pending", "ok", approval_id)] * (2 if mode == "auto" else 1)
    assert await _records(admin_url, server, start) == [  # 2026-07-28: the URL round, then its declined retry
        *asked,
        ("reroute_shipment", case.user, "replayed", "ok", approval_id),
    ]
