"""Postgres stopped and started again in the middle of load (reads and approved writes, two tenants).

Proves, on the fault tests' own embedded cluster:
- during the outage every call ends within CALL_BOUND_SECONDS with the tool error "temporarily
  unavailable ... nothing changed" (never a hang, never a masked crash);
- once Postgres is back, calls succeed again within RECOVERY_BOUND_SECONDS with no restart of the servers
  (a pooled connection the restart closed is replaced at checkout: `securemcp.tenancy.database`);
- no change without its audit record and no audit record without its change: every reorder the load
  created has an `ok` audit record and vice versa (matched by a quantity unique to each call), exactly
  the ones whose calls answered success, and every audit chain still verifies.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import anyio
import pgserver
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from supplychain.embedded import pgdata_dir, stop_embedded
from tests.faults.conftest import OwnDatabase
from tests.helpers import Human, admin_rows, mcp_client, verify_audit

pytestmark = pytest.mark.slow

CALL_BOUND_SECONDS = 10.0  # no call may take longer, outage or not (connect timeout is 5 s)
RECOVERY_BOUND_SECONDS = 5.0
OUTAGE_SECONDS = 3.0
UNAVAILABLE = "temporarily unavailable"
TENANTS = {"acme": ("alice@acme", "AMS-1"), "globex": ("bob@globex", "CHI-1")}


@dataclass
class Call:
    tenant: str
    tool: str
    quantity: int | None
    started: float
    ended: float = 0.0
    outcome: str = ""  # ok | unavailable | other
    text: str = ""


@dataclass
class Load:
    calls: list[Call] = field(default_factory=list)
    quantities: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    running: bool = True

    async def one(self, client: Client, tenant: str, tool: str, arguments: dict[str, object]) -> None:
        call = Call(tenant, tool, arguments.get("quantity"), time.monotonic())  # type: ignore[arg-type]
        self.calls.append(call)
        try:
            with anyio.fail_after(CALL_BOUND_SECONDS):
                result = await client.call_tool(tool, arguments)
            call.text = " ".join(getattr(block, "text", "") for block in result.content)
            call.outcome = "ok" if not result.is_error else ("unavailable" if UNAVAILABLE in call.text else "other")
        except MCPError as error:
            call.outcome, call.text = "other", f"JSON-RPC {error.error.code}: {error.error.message}"
        call.ended = time.monotonic()

    async def agent(self, tenant: str) -> None:
        user, warehouse = TENANTS[tenant]
        async with mcp_client("inventory", user, human=Human(approve=True)) as client:
            while self.running:
                quantity = next(self.quantities)
                reorder = {"sku": "TAPE-48", "warehouse": warehouse, "quantity": quantity}
                await self.one(client, tenant, "create_reorder", reorder)
                await self.one(client, tenant, "list_stock_levels", {"warehouse": warehouse})
                await anyio.sleep(0.05)


def restart_database() -> float:
    """Start the stopped cluster again; the monotonic time it accepts connections."""
    server = pgserver.get_server(pgdata_dir(), cleanup_mode=None)  # type: ignore[attr-defined]
    server.ensure_postgres_running()
    return time.monotonic()


async def test_a_database_restart_fails_calls_fast_and_clearly_and_loses_nothing(own_database: OwnDatabase) -> None:
    load = Load()
    (since,) = (await admin_rows(own_database.admin_url, "SELECT now()"))[0]
    started = time.monotonic()
    async with anyio.create_task_group() as agents:
        for tenant in ("acme", "acme", "globex", "globex"):
            agents.start_soon(load.agent, tenant)
        await anyio.sleep(2.0)
        stopped_at = time.monotonic()
        await anyio.to_thread.run_sync(stop_embedded)
        down_at = time.monotonic()
        await anyio.sleep(OUTAGE_SECONDS)
        restarting_at = time.monotonic()
        back_at = await anyio.to_thread.run_sync(restart_database)
        await anyio.sleep(RECOVERY_BOUND_SECONDS + 3.0)  # leaves 3 s of calls that must all succeed
        load.running = False

    calls = load.calls
    durations = [call.ended - call.started for call in calls]
    during = [call for call in calls if down_at <= call.started and call.ended <= restarting_at]
    late = [call for call in calls if call.started >= back_at + RECOVERY_BOUND_SECONDS]
    others = [(call.tool, call.text[:200]) for call in calls if call.outcome == "other"]
    first_ok_after = min(call.ended for call in calls if call.outcome == "ok" and call.started >= back_at)
    print(
        f"{len(calls)} calls in {time.monotonic() - started:.1f} s; stop took {down_at - stopped_at:.2f} s; "
        f"{len(during)} calls during the outage, longest call {max(durations):.2f} s; "
        f"recovered {first_ok_after - back_at:.2f} s after the database returned"
    )
    assert max(durations) <= CALL_BOUND_SECONDS
    assert others == []  # every failure is the clear "temporarily unavailable" tool error
    # A read changed nothing, whenever it failed; a write that failed while committing may have
    # committed, and is told to retry with its idempotency key instead (securemcp.errors).
    failed_reads = [call.text for call in calls if call.outcome == "unavailable" and call.tool != "create_reorder"]
    assert all("nothing changed" in text for text in failed_reads), failed_reads
    assert during and all(call.outcome == "unavailable" for call in during)
    assert first_ok_after - back_at <= RECOVERY_BOUND_SECONDS
    assert late and all(call.outcome == "ok" for call in late)

    # No change without its record, no record without its change, and exactly the calls that said so.
    for tenant in TENANTS:
        answered_ok = {
            c.quantity for c in calls if c.tenant == tenant and c.tool == "create_reorder" and c.outcome == "ok"
        }
        created = {
            quantity
            for (quantity,) in await admin_rows(
                own_database.admin_url,
                "SELECT quantity FROM inventory.reorders WHERE tenant_id = :t AND sku = 'TAPE-48' "
                "AND created_at >= :since",
                t=tenant,
                since=since,
            )
        }
        recorded = {
            int(quantity)
            for (quantity,) in await admin_rows(
                own_database.admin_url,
                "SELECT arguments->>'quantity' FROM inventory.audit_log WHERE tenant_id = :t "
                "AND tool = 'create_reorder' AND outcome = 'ok' AND decision <> 'pending' AND occurred_at >= :since",
                t=tenant,
                since=since,
            )
        }
        assert created == recorded == answered_ok, tenant
        assert answered_ok, f"no reorder succeeded for {tenant}: the load did not exercise writes"
    checked, broken = await verify_audit(own_database.admin_url, "inventory")
    assert broken == [] and checked > 0
