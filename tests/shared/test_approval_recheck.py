"""An approved call is re-checked when it runs: the role policy it was asked under, and the requester's roles.

A pending approval binds the exact call, as gateway designs do: caller, server, tool, argument digest,
expiry, and the role policy's version (`securemcp.approvals.recheck`). Here fred asks for a `verified`
release and decides it himself on the page; between the two the deployment changes (written with the
admin credential, as an older policy or another role would have been recorded). The run ends `void`
with the reason, the payment is untouched, and the audit record says why.
"""

from __future__ import annotations

import pytest

from deployment.policy import POLICY
from tests.helpers import admin_execute, admin_rows, decide_as, decider, mcp_client, pending_approval_id, snapshot
from tests.payments.builders import ACME_PAYMENTS

pytestmark = pytest.mark.usefixtures("seeded")

SMALL = ACME_PAYMENTS[1]  # 3480.50 EUR, pending: `verified`, decided by its requester
OLDER_POLICY = "0123456789abcdef"


async def _asked_by_fred() -> str:
    async with mcp_client("payments", "fred@acme") as client:
        return pending_approval_id(await client.call_tool("release_payment", {"payment_id": SMALL}))


async def _runs_void(admin_url: str, server_urls: dict[str, str], approval_id: str, reason: str) -> None:
    before = await snapshot(admin_url, "payments")
    status = await decide_as(server_urls, "payments", decider("fred@acme"), approval_id, "approve")
    assert (status.status, status.void_reason) == ("void", reason)
    after = await snapshot(admin_url, "payments")
    assert after["payments"] == before["payments"]  # not released
    assert await admin_rows(
        admin_url, "SELECT decision, outcome, detail FROM payments.audit_log WHERE approval_id = :i "
        "AND client_id = 'approval-page'", i=approval_id,
    ) == [("void", "refused", f"level verified: void, {reason}; approved on the page by fred@acme; "
           "requested by fred@acme")]  # fmt: skip


async def test_the_policy_version_is_recorded_with_the_request(admin_url: str) -> None:
    approval_id = await _asked_by_fred()
    assert await admin_rows(
        admin_url, "SELECT requester_policy_version, requester_roles FROM payments.pending_approvals WHERE id = :i",
        i=approval_id,
    ) == [(POLICY.version, ["finance"])]  # fmt: skip


async def test_an_approval_asked_under_another_role_policy_ends_void(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    approval_id = await _asked_by_fred()
    await admin_execute(
        admin_url, "UPDATE payments.pending_approvals SET requester_policy_version = :v WHERE id = :i",
        v=OLDER_POLICY, i=approval_id,
    )  # fmt: skip
    reason = f"the role policy changed since it was asked (version {OLDER_POLICY}, now {POLICY.version})"
    await _runs_void(admin_url, server_urls, approval_id, reason)


async def test_an_approval_whose_requester_roles_no_longer_give_the_scope_ends_void(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    # A row recorded before policy versions were (NULL), with roles that do not give payments:release.
    approval_id = await _asked_by_fred()
    await admin_rows(
        admin_url, "UPDATE payments.pending_approvals SET requester_policy_version = NULL, "
        "requester_roles = '[\"analyst\"]'::jsonb WHERE id = :i RETURNING id", i=approval_id,
    )  # fmt: skip
    await _runs_void(
        admin_url, server_urls, approval_id, "the requester's roles (analyst) no longer give payments:release"
    )


async def test_equal_tables_have_equal_versions_and_a_changed_grant_changes_it() -> None:
    from securemcp.policy import RolePolicy

    grants = {role: set(scopes) for role, scopes in POLICY.grants.items()}
    known = set().union(*grants.values())
    assert RolePolicy.of(grants, known_scopes=known).version == POLICY.version
    grants["analyst"] = grants["analyst"] | {"payments:release"}
    assert RolePolicy.of(grants, known_scopes=known).version != POLICY.version
