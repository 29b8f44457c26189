"""Every call leaves its record, whatever its arguments: the audit writer driven directly with values a
JSON parser can produce (NaN, infinities, lone surrogates, NUL, huge keys, 10,000-deep nesting).

Each record must be written, stored as exactly the text it was hashed as (the read-back row re-hashes
to its own hash, so `audit verify` passes), and keep the SHA-256 of the full arguments as sent.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from securemcp.audit.records import redact_arguments
from securemcp.audit.values import arguments_digest
from securemcp.identity.principal import Identity, identity_from_roles
from securemcp.runtime.unit_of_work import CallUnitOfWork
from securemcp.tenancy.database import create_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from deployment.policy import POLICY
from tests.helpers import admin_rows, verify_audit


def deeply_nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates and NUL included
KEYS = st.text(ANY_CHARACTER, max_size=12) | st.text(ANY_CHARACTER, min_size=250, max_size=400)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**5000), max_value=2**5000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(ANY_CHARACTER, max_size=30)
)
JSON_LIKE = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12
)
ARGUMENTS = st.dictionaries(KEYS, JSON_LIKE, max_size=5)
HOSTILE = {
    "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "lone surrogate": "\ud800x\udfff",
    "nul\x00name": "a\x00b", "k" * 100_000: 1, "deep": deeply_nested(10_000), "big float": 1e300,
    "negative zero": -0.0, "huge int": 10**2000,
}  # fmt: skip


@pytest.fixture
async def engine(server_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(server_urls["inventory"])  # the server's own role: RLS and insert-only apply
    yield engine
    await engine.dispose()


def caller() -> Identity:
    tenant = f"prop-{secrets.token_hex(4)}"  # a tenant of this test only
    return identity_from_roles(policy=POLICY, tenant_id=tenant, user_id=f"ana@{tenant}", roles=frozenset({"analyst"}))


async def write_and_read_back(
    admin_url: str, engine: AsyncEngine, who: Identity, arguments: dict[str, Any], outcome: str
) -> None:
    """One call's record through the real writer; assert it is there, as stored and as hashed."""
    call = CallUnitOfWork(schema="inventory", tool="list_warehouses", arguments=arguments, identity=who,
                     transport="http", request_id=None, side_effect=False)  # fmt: skip
    await call.finish(engine, outcome=outcome, detail="probe", output_bytes=0)
    [(stored, digest)] = await admin_rows(
        admin_url,
        "SELECT arguments, arguments_sha256 FROM inventory.audit_log WHERE tenant_id = :t ORDER BY seq DESC LIMIT 1",
        t=who.tenant_id,
    )
    assert stored == redact_arguments(arguments)
    assert digest == arguments_digest(arguments)


async def records_of(admin_url: str, tenant: str) -> int:
    [(count,)] = await admin_rows(admin_url, "SELECT count(*) FROM inventory.audit_log WHERE tenant_id = :t", t=tenant)
    return int(count)


async def test_any_json_like_arguments_leave_exactly_their_record(admin_url: str, engine: AsyncEngine) -> None:
    who = caller()
    written = 0

    async def check(arguments: dict[str, Any], outcome: str) -> None:
        nonlocal written
        await write_and_read_back(admin_url, engine, who, arguments, outcome)
        written += 1

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ARGUMENTS, st.sampled_from(["ok", "error", "refused"]))
    @example({"nan": float("nan"), "surrogate": "\ud800", "nul\x00": "\x00"}, "ok")
    def run(arguments: dict[str, Any], outcome: str) -> None:
        anyio.from_thread.run(check, arguments, outcome)

    await anyio.to_thread.run_sync(run)
    assert await records_of(admin_url, who.tenant_id) == written
    _checked, broken = await verify_audit(admin_url, "inventory")
    assert [link for link in broken if link.tenant_id == who.tenant_id] == []


@pytest.mark.parametrize("outcome", ["ok", "error"])
async def test_each_hostile_value_leaves_its_record(admin_url: str, engine: AsyncEngine, outcome: str) -> None:
    who = caller()
    for name, value in HOSTILE.items():
        await write_and_read_back(admin_url, engine, who, {name: value}, outcome)
    await write_and_read_back(admin_url, engine, who, HOSTILE, outcome)
    assert await records_of(admin_url, who.tenant_id) == len(HOSTILE) + 1
    _checked, broken = await verify_audit(admin_url, "inventory")
    assert [link for link in broken if link.tenant_id == who.tenant_id] == []


def test_hostile_values_are_stored_as_text_jsonb_can_hold() -> None:
    stored = redact_arguments(HOSTILE)
    assert (stored["nan"], stored["inf"], stored["-inf"]) == ("NaN", "Infinity", "-Infinity")
    assert stored["lone surrogate"] == "\\ud800x\\udfff"
    assert stored["nul\\u0000name"] == "a\\u0000b"
    levels, node = 0, stored["deep"]
    while isinstance(node, list):
        levels, node = levels + 1, node[0]
    assert levels == 31 and node.startswith("[nested deeper than 32 levels, sha256 ")
    assert stored["huge int"] == "[integer of 6644 bits]"
    assert stored["negative zero"] == 0.0 and stored["big float"] == int(1e300)
    [long_key] = [key for key in stored if key.startswith("kkk")]
    assert long_key == "k" * 200 + "…[100000 chars, sha256 " + hashlib.sha256(b"k" * 100_000).hexdigest()[:16] + "]"
