"""`supplychain audit review`: what each tenant did on the servers lately, and what looks wrong.

Read with the admin credential from every server's audit log (and its pending approvals), per tenant:
calls by tool and outcome, refusals by reason, step-up events (calls refused for a missing scope),
requests refused at the transport by reason with their counts (rate limit, body size, headers that
disagree with the body: one record may stand for many, `securemcp.http.refusals`), approvals asked,
approved, denied and expired, the decisions made on the approval page (by decider) and those it
refused (by reason and person), and the side effects that went through (by requester). A decision
on the page is a person's verdict, not a call: its record names the decider, and an approval runs the
effect as the requester, so the effect counts for the requester and the decision for the decider.
Flagged, each against a threshold setting (`SUPPLYCHAIN_REVIEW_*`, defaults below):

- a side-effect burst: the side effects one person caused (a call that went through in band, or an
  approval of their request on the page; not the round that only asks, not a replay, not a denial),
  `SIDE_EFFECT_BURST` or more within `SIDE_EFFECT_WINDOW_SECONDS`;
- a not-found burst: one token's lookups by id answered "no such record" (`NotFoundError`: another
  tenant's id gets exactly that answer, so a run of them is someone probing for ids),
  `NOT_FOUND_BURST` or more within `NOT_FOUND_WINDOW_SECONDS`;
- one token used from more than one client address, or by more than one client id.

A burst is found with a sliding window over each actor's calls, so a steady trickle stays quiet.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from securemcp.http.refusals import TRANSPORT_TOOL
from securemcp.settings import reject_unknown_variables
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# `securemcp.errors.NotFoundError`'s message, as the SDK words the tool error (and the gate records it).
NOT_FOUND = re.compile(r"^(?:Error executing tool [a-z0-9_]+: )?no [a-z ]+ '.*'$", re.DOTALL)
QUOTED = re.compile(r"'[^']*'")
TRANSPORT_REFUSAL = re.compile(r"^transport refusal ([a-z0-9_]+) x(\d+):")  # `securemcp.http.refusals`' detail
DURATION = re.compile(r"^(\d{1,6})([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
CALL_COLUMNS = (
    "a.occurred_at, a.tenant_id, a.user_id, a.client_id, a.token_id, a.client_address, a.tool, a.decision, "
    "a.outcome, a.detail, a.actor_kind, a.approval_id, p.requested_by"
)
IN_BAND_DECISIONS = ("approved", "declined", "cancelled", "unanswerable")
APPROVAL_STATE = (  # an executed approval was approved; an overdue pending one has expired
    "CASE WHEN status = 'pending' AND expires_at < now() THEN 'expired' "
    "WHEN status = 'executed' THEN 'approved' ELSE status END"
)


class ReviewSettings(BaseSettings):
    """Review thresholds, from `SUPPLYCHAIN_REVIEW_*`."""

    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_REVIEW_", extra="forbid", frozen=True)

    side_effect_burst: int = Field(default=10, ge=2)
    side_effect_window_seconds: int = Field(default=300, ge=1)
    not_found_burst: int = Field(default=10, ge=2)
    not_found_window_seconds: int = Field(default=60, ge=1)

    def __init__(self, **values: Any) -> None:
        reject_unknown_variables("SUPPLYCHAIN_REVIEW_", type(self).model_fields)
        super().__init__(**values)


def parse_duration(value: str) -> timedelta:
    """`24h`, `30m`, `7d`, `90s` as a timedelta; anything else raises ValueError."""
    match = DURATION.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration like 24h, 30m, 7d or 90s")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True)
class Call:
    """One audit record, as the review reads it."""

    server: str
    occurred_at: datetime
    tenant_id: str
    user_id: str
    client_id: str
    token_id: str | None
    client_address: str | None
    tool: str
    decision: str
    outcome: str
    detail: str | None
    actor_kind: str  # mcp, cli, or page: a decision on the approval page
    approval_id: str | None  # set when the call was settled out of band, by its approval
    requested_by: str | None  # a page decision's requester (from its approval)


@dataclass
class TenantReview:
    """What one tenant did, and what is flagged."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # server, tool, outcome
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)  # server, reason
    transport_refusals: Counter[tuple[str, str]] = field(default_factory=Counter)  # server, reason
    page_refusals: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # server, reason, person
    step_ups: Counter[tuple[str, str]] = field(default_factory=Counter)  # server, scope
    approvals: Counter[str] = field(default_factory=Counter)  # asked, approved, denied, expired, pending
    page_decisions: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # server, tool, verdict, by
    effects: Counter[str] = field(default_factory=Counter)  # side effects that went through, by requester
    flags: list[str] = field(default_factory=list)


async def load_calls(engine: AsyncEngine, server: str, since: datetime, tenant: str | None) -> list[Call]:
    """`server`'s audit records since `since` (of `tenant` only, if given), oldest first, each page
    decision with the requester of its approval."""
    condition = "a.occurred_at >= :since" + (" AND a.tenant_id = :tenant" if tenant else "")
    query = text(
        f"SELECT {CALL_COLUMNS} FROM {server}.audit_log a LEFT JOIN {server}.pending_approvals p "  # noqa: S608
        "ON a.actor_kind = 'page' AND p.tenant_id = a.tenant_id AND p.id = a.approval_id "
        f"WHERE {condition} ORDER BY a.occurred_at, a.seq"
    )
    async with engine.connect() as connection:
        rows = await connection.execute(query, {"since": since, "tenant": tenant})
        return [Call(server=server, **row) for row in rows.mappings()]


async def load_approvals(
    engine: AsyncEngine, server: str, since: datetime, tenant: str | None
) -> list[tuple[str, str]]:
    """(tenant, state) of every out-of-band approval asked since `since`; an overdue `pending` is `expired`."""
    condition = "created_at >= :since" + (" AND tenant_id = :tenant" if tenant else "")
    query = text(f"SELECT tenant_id, {APPROVAL_STATE} FROM {server}.pending_approvals WHERE {condition}")  # noqa: S608
    async with engine.connect() as connection:
        return [
            (tenant_id, state)
            for tenant_id, state in await connection.execute(query, {"since": since, "tenant": tenant})
        ]


def review(
    calls: list[Call],
    approvals: list[tuple[str, str]],
    side_effect_tools: dict[str, set[str]],
    settings: ReviewSettings,
) -> dict[str, TenantReview]:
    """Count and flag `calls` (oldest first) per tenant; `side_effect_tools` by server."""
    tenants: defaultdict[str, TenantReview] = defaultdict(TenantReview)
    effects: defaultdict[tuple[str, str], list[Call]] = defaultdict(list)  # by (tenant, user)
    not_found: defaultdict[tuple[str, str], list[Call]] = defaultdict(list)  # by (tenant, token)
    uses: defaultdict[tuple[str, str], list[Call]] = defaultdict(list)  # by (tenant, token)
    for call in calls:
        report = tenants[call.tenant_id]
        side_effect = call.tool in side_effect_tools.get(call.server, set())
        transport = TRANSPORT_REFUSAL.match(call.detail or "") if call.tool == TRANSPORT_TOOL else None
        if transport is not None:  # one record may stand for many refusals: its count says how many
            report.transport_refusals[(call.server, transport[1])] += int(transport[2])
            continue
        if call.actor_kind == "page" and call.outcome == "refused":  # a person's attempt, not a decision
            reason = QUOTED.sub("'…'", (call.detail or "").split(": ", 1)[-1])[:100]
            report.page_refusals[(call.server, reason, call.user_id)] += 1
            continue
        if call.actor_kind == "page":
            verdict = "approved" if call.decision == "approved" else "denied"
            report.page_decisions[(call.server, call.tool, verdict, call.user_id)] += 1
            if verdict == "approved" and side_effect:  # the effect ran now, as the requester
                requester = call.requested_by or f"the requester of approval {call.approval_id}"
                effects[(call.tenant_id, requester)].append(call)
            continue
        report.calls[(call.server, call.tool, call.outcome)] += 1
        detail = call.detail or ""
        if call.outcome == "refused":
            report.refusals[(call.server, QUOTED.sub("'…'", detail)[:100])] += 1
            if detail.startswith("missing scope "):
                report.step_ups[(call.server, detail.removeprefix("missing scope "))] += 1
        # A call with an approval id was settled on the page: the decision and the effect are the page's record.
        in_band = call.approval_id is None
        if in_band and call.decision in IN_BAND_DECISIONS:
            report.approvals[f"in band {call.decision}"] += 1
        # Over stdio every user's token id is `local`: there, the user is the actor.
        token = f"token {call.token_id}" if call.token_id not in (None, "local") else "local"
        went_through = in_band and call.outcome == "ok" and call.decision not in ("pending", "replayed")
        if went_through and side_effect:
            effects[(call.tenant_id, call.user_id)].append(call)
        if call.outcome == "error" and NOT_FOUND.fullmatch(detail):
            not_found[(call.tenant_id, f"{token} {call.user_id}")].append(call)
        if call.token_id not in (None, "local"):
            uses[(call.tenant_id, call.token_id)].append(call)
    for tenant, state in approvals:
        tenants[tenant].approvals["asked"] += 1
        tenants[tenant].approvals[state] += 1
    for (tenant, user), burst in effects.items():
        tenants[tenant].effects[user] += len(burst)
        _flag_burst(tenants[tenant], burst, settings.side_effect_burst, settings.side_effect_window_seconds,
                    f"side-effect burst: {user}")  # fmt: skip
    for (tenant, actor), burst in not_found.items():
        _flag_burst(tenants[tenant], burst, settings.not_found_burst, settings.not_found_window_seconds,
                    f"not-found lookups by id (probing for ids): {actor}")  # fmt: skip
    for (tenant, token), used in uses.items():
        addresses = sorted({call.client_address for call in used if call.client_address})
        clients = sorted({call.client_id for call in used})
        if len(addresses) > 1 or len(clients) > 1:
            tenants[tenant].flags.append(
                f"token {token} ({used[0].user_id}) used from {len(addresses)} addresses ({', '.join(addresses)}) "
                f"by {len(clients)} client(s) ({', '.join(clients)})"
            )
    return dict(tenants)


def _flag_burst(report: TenantReview, calls: list[Call], threshold: int, window_seconds: int, what: str) -> None:
    """Flag the densest run of `calls` (oldest first) if `threshold` of them fall within `window_seconds`."""
    window = timedelta(seconds=window_seconds)
    start, densest, densest_start = 0, 0, 0
    for end, call in enumerate(calls):
        while call.occurred_at - calls[start].occurred_at > window:
            start += 1
        if end - start + 1 > densest:
            densest, densest_start = end - start + 1, start
    if densest >= threshold:
        first = calls[densest_start]
        servers = ", ".join(sorted({call.server for call in calls[densest_start : densest_start + densest]}))
        report.flags.append(
            f"{what}: {densest} calls within {window_seconds} s from {first.occurred_at:%Y-%m-%d %H:%M:%S} "
            f"on {servers} (threshold {threshold})"
        )


def render(reviews: dict[str, TenantReview], *, since: datetime) -> list[str]:
    """The report, tenant by tenant, one line per string (printed through `supplychain.terminal.echo_lines`)."""
    lines = [f"audit review since {since:%Y-%m-%d %H:%M:%S %Z}: {len(reviews)} tenant(s)"]
    for tenant in sorted(reviews):
        report = reviews[tenant]
        lines += ["", f"tenant {tenant}: {'FLAGGED' if report.flags else 'nothing flagged'}"]
        lines += [f"  FLAG {flag}" for flag in report.flags]
        lines.append("  calls by tool and outcome:")
        by_tool: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        for (server, tool, outcome), count in sorted(report.calls.items()):
            by_tool[(server, tool)].append(f"{outcome} {count}")
        lines += [f"    {server} {tool}: {', '.join(outcomes)}" for (server, tool), outcomes in by_tool.items()]
        lines.append("  refusals by reason:" + ("" if report.refusals else " none"))
        lines += [f"    {server}: {reason} x{count}" for (server, reason), count in sorted(report.refusals.items())]
        if report.transport_refusals:  # shown when there are any, as the flags are
            lines.append("  refused at the transport:")
        lines += [
            f"    {server}: {reason} x{count}" for (server, reason), count in sorted(report.transport_refusals.items())
        ]
        step_ups = ", ".join(f"{server} {scope} x{count}" for (server, scope), count in sorted(report.step_ups.items()))
        lines.append(
            f"  step-up (insufficient scope): {sum(report.step_ups.values())}" + (f" ({step_ups})" if step_ups else "")
        )
        states = ("asked", "approved", "denied", "expired", "pending")
        out_of_band = ", ".join(f"{state} {report.approvals[state]}" for state in states)
        in_band = ", ".join(
            f"{key.removeprefix('in band ')} {n}"
            for key, n in sorted(report.approvals.items())
            if key.startswith("in band")
        )
        lines.append(f"  approvals out of band: {out_of_band}; in band: {in_band or 'none'}")
        lines += _page_decisions(report)
        if report.page_refusals:
            lines.append("  refused on the approval page:")
        lines += [
            f"    {server}: {reason} x{count} ({person})"
            for (server, reason, person), count in sorted(report.page_refusals.items())
        ]
        effects = ", ".join(f"{user} {count}" for user, count in sorted(report.effects.items()))
        lines.append(f"  side effects by requester: {effects or 'none'}")
    return lines


def _page_decisions(report: TenantReview) -> list[str]:
    """The decisions made on the approval page: totals, then by server, tool and decider."""
    if not report.page_decisions:
        return ["  decided on the approval page: none"]
    totals = Counter[str]()
    for (_server, _tool, verdict, _decider), count in report.page_decisions.items():
        totals[verdict] += count
    lines = [f"  decided on the approval page: approved {totals['approved']}, denied {totals['denied']}"]
    lines += [
        f"    {server} {tool}: {verdict} {count} by {decider}"
        for (server, tool, verdict, decider), count in sorted(report.page_decisions.items())
    ]
    return lines


def side_effect_tools(server: str) -> set[str]:
    """The names of `server`'s side-effecting tools, from its tool table."""
    from supplychain.servers import server_module

    return {tool.name for tool in server_module(server).TOOLS if tool.rule.side_effect}


async def review_servers(
    engine: AsyncEngine, servers: tuple[str, ...], *, start: datetime, tenant: str | None, settings: ReviewSettings
) -> tuple[list[str], bool]:
    """The report over `servers` since `start`, and whether anything is flagged."""
    calls: list[Call] = []
    approvals: list[tuple[str, str]] = []
    for server in servers:
        calls += await load_calls(engine, server, start, tenant)
        approvals += await load_approvals(engine, server, start, tenant)
    calls.sort(key=lambda call: call.occurred_at)
    reviews = review(calls, approvals, {server: side_effect_tools(server) for server in servers}, settings)
    return render(reviews, since=start), any(report.flags for report in reviews.values())
