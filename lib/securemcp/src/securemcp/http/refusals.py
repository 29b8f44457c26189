"""Requests refused at the transport leave audit records, and a flood of them cannot flood the audit log.

Refused before any tool runs, after the token was verified (so the tenant is known): the rate limit
(429, `rate_limited`), a body over the limit (413, `body_too_large`), and a `tools/call` the SDK
refuses before dispatch (`securemcp.http.refused_calls`: a header that disagrees with the body,
-32020 `header_mismatch`; a missing `params._meta`, -32602 `invalid_params`; ...). Each is recorded
in the tenant's own chain with the tool `(transport)`, outcome `refused`, the verified user, client
and token, and `arguments` `{"refusal": reason, "count": n, "minute": "...", "users": [...]}`;
`detail` starts `transport refusal <reason> x<n>:`.

Aggregated per (tenant, reason, minute), so the cost of a flood is bounded:
- the first refusal of a (tenant, reason, minute) is written at once, with count 1;
- the others of that minute only count (a dictionary update, no I/O); when the minute closes, or the
  server stops, one summary record carries how many more there were.
At most two records per tenant, reason and minute, and the counts add up to the refusals. The counts
live in this process: with N workers each aggregates its own requests (up to 2N records a minute per
tenant and reason, the counts still adding up); a worker killed without its shutdown loses only the
summary of its open minutes (their first records are written).

A request whose token was refused (401) has no tenant, hence no chain: writing it in some
tenant's chain would let anyone write there. One exception: a token verified by its issuer but naming
another tenant than the one its issuer speaks for (`tenant_mismatch`) is recorded in the bound tenant's
chain, which only that issuer's signature could reach. It is counted per minute and logged, one warning line
per minute at most (the first 401 of the minute, then the count of the minute when it closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from securemcp.audit.attribution import Attribution
from securemcp.identity.principal import Identity
from securemcp.observability.request_id import current_request_id
from securemcp.runtime.unit_of_work import CallUnitOfWork

logger = logging.getLogger(__name__)

TRANSPORT_TOOL = "(transport)"  # the `tool` of a transport refusal's record: no tool was reached
MAX_USERS_NAMED = 20  # a summary names at most this many of the tenant's users who were refused


@dataclass
class _OpenMinute:
    """The refusals of one (tenant, reason, minute) after its first, not yet written."""

    identity: Identity
    attribution: Attribution
    users: set[str] = field(default_factory=set)
    more: int = 0


class RefusalLog:
    """The in-process aggregator of one server's transport refusals (see the module docstring)."""

    def __init__(
        self, schema: str, engine: Callable[[], AsyncEngine | None], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.schema = schema
        self._engine = engine
        self._clock = clock
        self._open: dict[tuple[str, str, int], _OpenMinute] = {}
        self._closers: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._anonymous: dict[int, int] = {}  # minute -> 401s counted

    async def refused(self, identity: Identity, reason: str, description: str, attribution: Attribution) -> None:
        """Account for one refusal of a verified caller: written now if it is the first of its minute."""
        minute = int(self._clock() // 60)
        key = (identity.tenant_id, reason, minute)
        open_minute = self._open.get(key)
        if open_minute is not None:
            open_minute.more += 1
            open_minute.identity, open_minute.attribution = identity, attribution
            if len(open_minute.users) < MAX_USERS_NAMED:
                open_minute.users.add(identity.user_id)
            return
        self._open[key] = _OpenMinute(identity=identity, attribution=attribution)
        closer = asyncio.get_running_loop().create_task(self._close_at_end_of(key))
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)
        await self._write(identity, reason, minute, 1, [identity.user_id], description, attribution)

    def unauthenticated(self) -> None:
        """Account for one 401: a log line for the first of each minute, the count when the next minute starts."""
        minute = int(self._clock() // 60)
        for earlier in [m for m in self._anonymous if m != minute]:
            logger.warning("%d requests refused without a verified token (401) in the minute from %s",
                           self._anonymous.pop(earlier), _minute_text(earlier))  # fmt: skip
        if minute not in self._anonymous:
            logger.warning("a request was refused without a verified token (401); this minute's are counted")
        self._anonymous[minute] = self._anonymous.get(minute, 0) + 1

    async def close(self) -> None:
        """Write the summaries of the minutes still open (the server is stopping); the engine must still run."""
        self._stopping.set()
        await asyncio.gather(*self._closers, return_exceptions=True)
        for minute, count in self._anonymous.items():
            logger.warning("%d requests refused without a verified token (401) in the minute from %s",
                           count, _minute_text(minute))  # fmt: skip
        self._anonymous.clear()

    async def _close_at_end_of(self, key: tuple[str, str, int]) -> None:
        _tenant, reason, minute = key
        wait = (minute + 1) * 60 - self._clock()
        with contextlib.suppress(TimeoutError):  # a timeout: the minute closed; no timeout: the server stops
            await asyncio.wait_for(self._stopping.wait(), timeout=max(0.0, wait))
        summary = self._open.pop(key)
        if summary.more:
            description = f"more refusals in the minute from {_minute_text(minute)}, after the first"
            await self._write(summary.identity, reason, minute, summary.more, sorted(summary.users), description,
                              summary.attribution)  # fmt: skip

    async def _write(
        self, identity: Identity, reason: str, minute: int, count: int, users: list[str], description: str,
        attribution: Attribution,
    ) -> None:  # fmt: skip
        """One record; a failure is logged, not raised: the request is refused either way, and nothing ran."""
        call = CallUnitOfWork(
            schema=self.schema, tool=TRANSPORT_TOOL, identity=identity, transport="http",
            arguments={"refusal": reason, "count": count, "minute": _minute_text(minute), "users": users},
            request_id=current_request_id(), side_effect=False, attribution=attribution,
        )  # fmt: skip
        try:
            engine = self._engine()
            if engine is None:
                raise RuntimeError("the server's lifespan is not running")
            await call.finish(engine, outcome="refused", detail=f"transport refusal {reason} x{count}: {description}",
                              output_bytes=0)  # fmt: skip
        except Exception:
            logger.exception("the audit record of %d %s refusal(s) could not be written", count, reason)


def _minute_text(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")
