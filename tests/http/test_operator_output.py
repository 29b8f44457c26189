"""What the CLI prints from the audit trail reaches the operator's terminal as one visible line per record.

Any signed-in user, an analyst of a tenant of its own here, can put text in the trail: the name of a
tool that does not exist and the name of an argument a tool does not declare are both recorded. Here
they carry OSC (window title, hyperlink), CSI (erase the screen, also as the one-byte C1 CSI U+009B),
CR, LF, TAB, a bidi override and a forged "nothing flagged" line. `audit review` and `incident token`
must print every such character as a visible escape, on the line of the record that holds it.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from datetime import datetime

import anyio
import httpx2

from idp.tokens import Subject
from tests.helpers import admin_rows
from tests.http.rpc import bearer, error_of, initialize, result_of, session_call
from tests.http.stack import Stack
from tests.http.tokens import claims_of, mint

TOOL = "x\x1b]0;title\x07\x1b]8;;http://evil\x07\x1b[2J\x9b2J\r\ntenant acme: nothing flagged"
ARGUMENT = "\x1b[2J\x9b2J\u202e\tnote\r\nok"
# As printed: every control, format and line-breaking character spelled out, nothing else changed.
SHOWN_TOOL = r"x\x1b]0;title\x07\x1b]8;;http://evil\x07\x1b[2J\x9b2J\r\ntenant acme: nothing flagged"
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"  # the window's start, as the commands print it
# The gate quotes an unknown argument's name with repr() in its refusal, so it is stored already escaped.
SHOWN_ARGUMENT_REFUSAL = r"unknown argument(s) for get_stock_level: '\x1b[2J\x9b2J\u202e\tnote\r\nok'"


async def _plant(url: str, token: str) -> None:
    """Call a tool named TOOL, then a real tool with an argument named ARGUMENT, in a 2025-11-25 session."""
    async with httpx2.AsyncClient(timeout=10) as http:
        opened = await initialize(http, url, token)
        session = opened.headers["mcp-session-id"]
        unknown = await session_call(http, url, token, session, TOOL, {"sku": "BOLT-M8"})
        assert error_of(unknown) == {"code": -32602, "message": f"Unknown tool: {TOOL}"}
        planted = await session_call(
            http, url, token, session, "get_stock_level", {"sku": "BOLT-M8", "warehouse": "AMS-1", ARGUMENT: "x"}
        )
        assert result_of(planted)["isError"] is True
        await http.delete(url, headers={"Mcp-Session-Id": session, **bearer(token)})


async def _cli(*arguments: str, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run `supplychain ARGUMENTS` in its own process; exit code and stdout lines (stdout must end a line)."""
    result = await anyio.run_process(
        [sys.executable, "-m", "supplychain.cli", *arguments], check=False, env={**os.environ, **env}
    )
    assert result.stderr == b"", result.stderr.decode()
    output = result.stdout.decode()
    assert output.endswith("\n"), output
    return result.returncode, output.removesuffix("\n").split("\n")


def _assert_one_visible_line_each(lines: list[str]) -> None:
    """No control, format or line-breaking character anywhere: each printed string is one terminal line."""
    for line in lines:
        assert line.isprintable(), repr(line)


async def test_audit_review_and_incident_token_print_planted_escapes_visibly(stack: Stack, admin_url: str) -> None:
    inventory = stack["inventory"]
    tenant = f"t-{secrets.token_hex(4)}"  # a tenant of its own: the review below shows only this test's records
    analyst = Subject(sub=f"ana@{tenant}", tenant_id=tenant, roles=("analyst",))
    token = mint(stack.idp, user=analyst.sub, server="inventory", subject=analyst)
    jti = claims_of(token)["jti"]
    await _plant(inventory.url, token)
    env = {"SUPPLYCHAIN_ADMIN_DATABASE_URL": admin_url, "SUPPLYCHAIN_IDP_PORT": str(stack.idp.served.port)}

    code, review = await _cli("audit", "review", "--since", "10m", "--server", "inventory", "--tenant", tenant, env=env)
    _assert_one_visible_line_each(review)
    assert code == 0, review
    assert re.fullmatch(rf"audit review since {WHEN} UTC: 1 tenant\(s\)", review[0])
    assert review[1:] == [
        "",
        f"tenant {tenant}: nothing flagged",
        "  calls by tool and outcome:",
        "    inventory get_stock_level: refused 1",
        f"    inventory {SHOWN_TOOL}: refused 1",
        "  refusals by reason:",
        f"    inventory: Unknown tool: {SHOWN_TOOL} x1",
        "    inventory: unknown argument(s) for get_stock_level: '…' x1",
        "  step-up (insufficient scope): 0",
        "  approvals out of band: asked 0, approved 0, denied 0, expired 0, pending 0; in band: none",
        "  decided on the approval page: none",
        "  side effects by requester: none",
    ]

    code, incident = await _cli("incident", "token", jti, "--since", "10m", "--issuer", stack.idp.issuer, env=env)
    _assert_one_visible_line_each(incident)
    # The test minted the token itself, so the dev IdP knows no grant of it: the incident says so and
    # stays open (exit 1). What matters here is how the token's calls are printed.
    assert code == 1, incident
    records = await _records(admin_url, jti)
    assert f"credential {jti}: unknown; grants none" in incident
    assert (
        f"  {records[1]:%Y-%m-%d %H:%M:%S.%f} inventory {tenant}/{analyst.sub} get_stock_level refused "
        f"[not_required] token {jti} from 127.0.0.1 ({SHOWN_ARGUMENT_REFUSAL})"
    ) in incident
    assert (
        f"  {records[0]:%Y-%m-%d %H:%M:%S.%f} inventory {tenant}/{analyst.sub} {SHOWN_TOOL} refused "
        f"[not_required] token {jti} from 127.0.0.1 (Unknown tool: {SHOWN_TOOL})"
    ) in incident


async def _records(admin_url: str, jti: str) -> list[datetime]:
    """When the token's calls were recorded, oldest first."""
    rows = await admin_rows(
        admin_url, "SELECT occurred_at FROM inventory.audit_log WHERE token_id = :j ORDER BY seq", j=jti
    )
    return [row[0] for row in rows]
