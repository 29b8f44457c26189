"""Steps 6 to 9 of the demo: a payment only a second person may release, decided on the approval page.

fred@acme (finance) asks his agent to release his largest pending supplier payment. Above 10000.00
`release_payment` is `four_eyes` (below it, fred's own signed-in yes would do): the server records a
pending approval and answers with its page URL; nothing is paid. fred opens the page himself and presses
Approve: refused (he asked for it). priya@acme (approver) signs in at the IdP and approves it; the server
runs exactly fred's recorded call, once. fred's agent then reads the outcome with `get_approval`. The
people at the page are scripted over HTTP (`demo.browser.PageBrowser`); the tests drive the same pages
with a real browser (tests/pages).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from mcp import Client

from demo.browser import PageBrowser

REQUESTER = "fred@acme"
DECIDER = "priya@acme"

Call = Callable[[Client, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class FourEyesFailed(RuntimeError):
    """A step of the four-eyes story did not turn out as expected."""


async def run_four_eyes(
    fred: Client, *, call: Call, step: Callable[[int, str], None], say: Callable[..., None],
    verify: ssl.SSLContext | bool = True,
) -> None:  # fmt: skip
    """Steps 6-9 with fred's connected agent `fred` (the helpers print as the rest of the demo does)."""
    step(6, f"An agent for {REQUESTER} releases a supplier payment: four eyes, so it waits (payments)")
    pending = await call(fred, "list_payments", {"status": "pending_approval", "limit": 5})
    if not pending["items"]:
        raise FourEyesFailed("no payment is pending approval: run the demo with --reset")
    payment = max(pending["items"], key=lambda item: Decimal(item["amount"]))  # the large one: four eyes
    approval = await call(fred, "release_payment", {"payment_id": payment["id"]})
    if approval.get("status") != "pending" or not approval.get("url"):
        raise FourEyesFailed(f"release_payment should have been left pending with a page URL: {approval}")
    say(f"     pending approval {approval['approval_id']} (level {approval['level']}): {approval['summary']}")
    say(f"     decided only on the page: {approval['url']}")

    step(7, f"{REQUESTER} opens the page and tries to approve his own request")
    status, message = await _press(REQUESTER, approval["url"], "approve", say, verify)
    say(f"     page answered {status}: {message}", fg="red")
    if status != 403:
        raise FourEyesFailed(f"the requester's own approval should have been refused, got HTTP {status}")

    step(8, f"{DECIDER} signs in on the payments approval page and approves it")
    status, message = await _press(DECIDER, approval["url"], "approve", say, verify)
    say(f"     page answered {status}: {message}", fg="green")
    if status != 200:
        raise FourEyesFailed(f"{DECIDER}'s approval should have gone through, got HTTP {status}: {message}")

    step(9, f"{REQUESTER}'s agent reads the outcome (get_approval)")
    outcome = await call(fred, "get_approval", {"approval_id": approval["approval_id"]})
    released = (outcome.get("result") or {}).get("status")
    say(f"     {outcome['approval_id']}: {outcome['status']} by {outcome['decided_by']}; payment {released}")
    if outcome["status"] != "executed":
        raise FourEyesFailed(f"the approval should be executed, it is {outcome['status']}")


async def _press(
    user: str, url: str, decision: str, say: Callable[..., None], verify: ssl.SSLContext | bool
) -> tuple[int, str]:
    browser = PageBrowser(user, lambda line: say(line, fg="blue"), verify=verify)
    try:
        return await browser.decide(url, decision)
    finally:
        await browser.aclose()
