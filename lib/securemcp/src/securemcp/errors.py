"""The errors a tool call can end with, and what the client sees for each.

    ToolError (mcp)                 a tool result with isError=true and a readable message
    └── SupplyChainError            ours; the message names the offending value, never a secret
        ├── NotFoundError           no such record *for this tenant*: another tenant's id gets the
        │                           very same answer as an id that never existed
        ├── ConflictError           the record exists but its state forbids the action
        │   └── LevelRaisedError    an approval asked at one level, what it acts on now needs a stricter one
        ├── InvalidInputError       input that passed the schema but not the domain rules
        ├── NotApprovedError        a human declined or cancelled; nothing changed
        ├── DeciderRefusedError     this person may not decide this approval (four eyes: never the
        │                           requester; confirm/verified: only the requester); nothing changed
        ├── SignInTooOldError       the decider's sign-in is older than the bound: sign in again
        └── TemporarilyUnavailableError  the database cannot be reached (restart, failover): fails
                                    fast, nothing changed, the client may retry (`securemcp.tenancy.database`)
    MCPError (mcp)                  a JSON-RPC error instead of a result
    └── code FORBIDDEN (-32003)     the caller's scopes do not allow this tool (`scope_denied`)

Any other exception inside a tool reaches the client only as "Error executing tool <name>": the SDK
masks unexpected errors, so stack traces and driver messages (which can carry a DSN) stay in the logs.
"""

from __future__ import annotations

import asyncpg.exceptions
import sqlalchemy.exc
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

FORBIDDEN = -32003


class SupplyChainError(ToolError):
    """A refusal or failure the client should read."""


class NotFoundError(SupplyChainError):
    """No such record in the caller's tenant."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"no {kind} {record_id!r}")


class ConflictError(SupplyChainError):
    """The record's current state does not allow the action."""


class LevelRaisedError(ConflictError):
    """What a side effect acts on now needs a stricter approval level than the one it was asked at."""


class InvalidInputError(SupplyChainError):
    """Input that is well-formed but not acceptable."""


class NotApprovedError(SupplyChainError):
    """A human declined or cancelled the approval; nothing changed."""


class DeciderRefusedError(SupplyChainError):
    """The signed-in person may see this approval but not decide it; nothing changed."""


class SignInTooOldError(SupplyChainError):
    """The decider signed in too long ago to decide now; the page sends them to sign in again."""


class TemporarilyUnavailableError(SupplyChainError):
    """The database cannot be reached right now; nothing changed, and a retry in a few seconds may work.

    With `outcome_unknown`, for a call with a side effect whose database went away while it was being
    recorded: its commit may have landed before the connection died, so "nothing changed" would be a
    guess, and a blind retry could do the thing twice. The client is told to retry with the same
    idempotency key, which answers from the first call if that one committed (`securemcp.gate.idempotency`).
    """

    RETRY_AFTER_SECONDS = 2

    def __init__(self, *, outcome_unknown: bool = False) -> None:
        if outcome_unknown:
            super().__init__(
                "temporarily unavailable: the database went away while this call was being committed, so it "
                "may have taken effect; retry only with the same idempotency_key (a retry with it answers "
                f"from the first call if that one committed), in {self.RETRY_AFTER_SECONDS} s"
            )
            return
        super().__init__(
            "temporarily unavailable: the database cannot be reached; nothing changed, "
            f"retry in {self.RETRY_AFTER_SECONDS} s"
        )


# Failures that mean "no database right now" rather than "this request is wrong": connecting failed or
# timed out, the server is starting or shutting down, or the connection died under the query.
_UNAVAILABLE = (
    OSError,  # refused, no socket file, reset (TimeoutError is one too: connect and command timeouts)
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, "cannot connect now", crash
    asyncpg.exceptions.InterfaceError,  # "connection is closed" (but see the ValueError rule below)
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
)


def database_unavailable(failure: BaseException) -> bool:
    """True when `failure`, or anything it was raised from, says the database cannot be reached."""
    seen: set[int] = set()
    current: BaseException | None = failure
    while current is not None and id(current) not in seen:
        if isinstance(current, ValueError):
            # A value the driver refused to send (asyncpg's DataError is an InterfaceError too) is a bug
            # or bad input, not an outage: it must not read as "retry later" and hide its traceback.
            return False
        if isinstance(current, (TemporarilyUnavailableError, *_UNAVAILABLE)):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def scope_denied(tool: str, scope: str) -> MCPError:
    """The JSON-RPC error for a call whose scope the caller does not hold."""
    return MCPError(code=FORBIDDEN, message=f"insufficient_scope: {tool} requires scope {scope!r}")
