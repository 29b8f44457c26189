"""Four eyes with pairwise subjects: one person, two `sub`s (one per client), one person id.

An IdP like Microsoft Entra ID gives one person a different `sub` for the MCP client and for the approval
pages' client, and the same `oid`. The requester comes from the access token's claims
(`identity_from_claims`), the decider from the ID token's (the pages' sign-in), each read with the
server's PERSON_CLAIM; the decision is taken by `decide` on the real database, as the page takes it.
Tokens are shaped here, not issued by the dev IdP (which issues one `sub` per person).
"""

from __future__ import annotations

import time

import pytest
from securemcp.approvals.pages.decide import decider_of
from securemcp.approvals.pages.signin import _person
from securemcp.errors import DeciderRefusedError
from securemcp.identity.principal import IdentityError, identity_from_claims

from deployment.policy import POLICY
from tests.helpers import admin_rows, decide_as, mcp_client, pending_approval_id, snapshot
from tests.payments.builders import ACME_PAYMENTS, ACME_PENDING

ACME_SMALL_PENDING = ACME_PAYMENTS[1]  # 3480.50 EUR: under the four-eyes threshold, so `verified`

pytestmark = pytest.mark.usefixtures("seeded")

ISSUER = "https://login.example.test/acme/v2.0"
OID = "0c7e5d2a-6b1f-4c39-9a8e-3f2d1b0a9c87"  # the same for both clients
ROLES = ["finance", "approver"]  # may ask for a release and may decide one: only four eyes stops self-approval


def _access_token_claims() -> dict[str, object]:
    return {"iss": ISSUER, "sub": "mcpclient-7f3a@acme", "oid": OID, "tenant_id": "acme", "roles": ROLES,
            "scope": "payments:read payments:release", "client_id": "mcp-client"}  # fmt: skip


def _id_token_claims() -> dict[str, object]:
    return {"iss": ISSUER, "sub": "pages-91bd@acme", "oid": OID, "tenant_id": "acme", "roles": ROLES,
            "auth_time": int(time.time())}  # fmt: skip


async def _release_requested_with(person_claim: str, payment_id: str = ACME_PENDING) -> str:
    requester = identity_from_claims(_access_token_claims(), POLICY, person_claim=person_claim)
    async with mcp_client("payments", requester) as client:
        return pending_approval_id(await client.call_tool("release_payment", {"payment_id": payment_id}))


async def test_with_person_claim_oid_the_requester_cannot_approve_their_own_four_eyes_release(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    approval_id = await _release_requested_with("oid")
    assert await admin_rows(
        admin_url, "SELECT requested_by, requested_by_person FROM payments.pending_approvals WHERE id = :i",
        i=approval_id,
    ) == [("mcpclient-7f3a@acme", f"{ISSUER} oid={OID}")]  # fmt: skip
    before = await snapshot(admin_url, "payments")
    same_person = decider_of(_person(_id_token_claims(), "oid"), POLICY)
    assert same_person.user_id == "pages-91bd@acme"  # another `sub`: comparing subs would see two people
    with pytest.raises(DeciderRefusedError, match="must be decided by another person than its requester"):
        await decide_as(server_urls, "payments", same_person, approval_id, "approve")
    assert await snapshot(admin_url, "payments") == before


async def test_with_the_default_sub_pairwise_subjects_let_a_person_approve_their_own_release(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    # What the README warns about: with an IdP that issues pairwise subjects, PERSON_CLAIM must be set.
    approval_id = await _release_requested_with("sub")
    seen_as_another = decider_of(_person(_id_token_claims(), "sub"), POLICY)
    decided = await decide_as(server_urls, "payments", seen_as_another, approval_id, "approve")
    assert (decided.status, decided.decided_by) == ("executed", "pages-91bd@acme")
    assert await admin_rows(
        admin_url, "SELECT status, released_by FROM payments.payments WHERE id = :i", i=ACME_PENDING
    ) == [("released", "mcpclient-7f3a@acme")]  # fmt: skip


async def test_a_token_without_the_person_claim_is_refused() -> None:
    claims = {key: value for key, value in _access_token_claims().items() if key != "oid"}
    with pytest.raises(IdentityError, match="carries no usable 'oid' claim"):
        identity_from_claims(claims, POLICY, person_claim="oid")


@pytest.mark.parametrize("claim", ["aud", "tenant_id", "roles", "o id", "", "1oid"])
async def test_person_claim_setting_refuses_what_cannot_name_a_person(
    claim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.payments.server import PaymentsSettings

    monkeypatch.setenv("SUPPLYCHAIN_PAYMENTS_PERSON_CLAIM", claim)
    with pytest.raises(ValueError, match="PERSON_CLAIM"):
        PaymentsSettings()


async def test_with_person_claim_oid_the_requester_verifies_their_own_release_under_another_sub(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    approval_id = await _release_requested_with("oid", ACME_SMALL_PENDING)
    assert await admin_rows(
        admin_url, "SELECT level FROM payments.pending_approvals WHERE id = :i", i=approval_id
    ) == [("verified",)]  # fmt: skip
    # Someone else with the same roles (another oid) may not decide it: `verified` is the requester's own.
    other = decider_of(_person({**_id_token_claims(), "sub": "pages-0a11@acme", "oid": "another-oid"}, "oid"), POLICY)
    before = await snapshot(admin_url, "payments")
    with pytest.raises(DeciderRefusedError, match=r"\(verified\) can be decided only by its requester"):
        await decide_as(server_urls, "payments", other, approval_id, "approve")
    assert await snapshot(admin_url, "payments") == before
    # The requester, signed in on the pages' client under another `sub`, is the same person by `oid`.
    decided = await decide_as(server_urls, "payments", decider_of(_person(_id_token_claims(), "oid"), POLICY),
                              approval_id, "approve")  # fmt: skip
    assert (decided.status, decided.decided_by) == ("executed", "pages-91bd@acme")
    assert await admin_rows(
        admin_url, "SELECT status, released_by FROM payments.payments WHERE id = :i", i=ACME_SMALL_PENDING
    ) == [("released", "mcpclient-7f3a@acme")]  # fmt: skip


async def test_with_the_default_sub_pairwise_subjects_a_verified_release_can_never_be_decided(
    admin_url: str, server_urls: dict[str, str]
) -> None:
    # The other half of the README's warning: the requester's own sign-in is another `sub`, so not them.
    approval_id = await _release_requested_with("sub", ACME_SMALL_PENDING)
    before = await snapshot(admin_url, "payments")
    with pytest.raises(DeciderRefusedError, match=r"\(verified\) can be decided only by its requester"):
        await decide_as(server_urls, "payments", decider_of(_person(_id_token_claims(), "sub"), POLICY),
                        approval_id, "approve")  # fmt: skip
    assert await snapshot(admin_url, "payments") == before
