"""Every side effect of every server goes to a person at its approval level, and a "no" changes nothing.

Parametrised over the side effects each server names in tests/<server>/cases.py (a new server's are
included once it has one; tests/shared/test_side_effect_coverage.py fails while one is missing).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Human, admin_rows, mcp_client, pending_approval_id, snapshot, without_approvals
from tests.server_cases import case_level, side_effects

pytestmark = pytest.mark.usefixtures("seeded")

SIDE_EFFECTS = side_effects()
KEYS = list(SIDE_EFFECTS)
IDS = [f"{server}.{tool}" for server, tool in KEYS]


async def _last_record(admin_url: str, server: str) -> tuple[Any, ...]:
    [record] = await admin_rows(
        admin_url, f"SELECT tool, user_id, decision, outcome FROM {server}.audit_log ORDER BY seq DESC LIMIT 1"
    )
    return record


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(("server", "tool"), KEYS, ids=IDS)
async def test_a_declined_side_effect_changes_nothing_and_waits_where_its_level_says(
    admin_url: str, server: str, tool: str, mode: str
) -> None:
    case, level = SIDE_EFFECTS[(server, tool)], case_level(server, tool)
    before = await snapshot(admin_url, server)
    human = Human(action="decline")
    async with mcp_client(server, case.user, human=human, mode=mode) as client:
        result = await client.call_tool(tool, case.arguments)
    if level == "confirm":  # asked in the call: the "no" is the answer, and nothing is recorded to decide later
        assert result.is_error is True and "not approved" in result.content[0].text, result.content
        assert len(human.questions) == 1
        assert await snapshot(admin_url, server) == before
        assert await _last_record(admin_url, server) == (tool, case.user, "declined", "refused")
        return
    # verified and four_eyes: decided only on the approval page; the call leaves a pending approval
    approval_id = pending_approval_id(result)
    [(recorded_level, requested_by, status)] = await admin_rows(
        admin_url, f"SELECT level, requested_by, status FROM {server}.pending_approvals WHERE id = :i", i=approval_id
    )
    assert (recorded_level, requested_by, status) == (level, case.user, "pending")
    assert len(human.questions) == (1 if level == "verified" else 0)  # the page's URL, declined; four eyes: nobody
    assert without_approvals(await snapshot(admin_url, server)) == without_approvals(before)
