"""The errors a tool call can end with, and what the client sees for each.

    ToolError (mcp)                 a tool result with isError=true and a readable message
    └── SupplyChainError            ours; the message names the offending value, never a secret
        ├── NotFoundError           no such record *for this tenant*: another tenant's id gets the
        │                           very same answer as an id that never existed
        ├── ConflictError           the record exists but its state forbids the action
        ├── InvalidInputError       input that passed the schema but not the domain rules
        └── NotApprovedError        a human declined or cancelled; nothing changed
    MCPError (mcp)                  a JSON-RPC error instead of a result
    └── code FORBIDDEN (-32003)     the caller's scopes do not allow this tool (`scope_denied`)

Any other exception inside a tool reaches the client only as "Error executing tool <name>": the SDK
masks unexpected errors, so stack traces and driver messages (which can carry a DSN) stay in the logs.
"""

from __future__ import annotations

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


class InvalidInputError(SupplyChainError):
    """Input that is well-formed but not acceptable."""


class NotApprovedError(SupplyChainError):
    """A human declined or cancelled the approval; nothing changed."""


def scope_denied(tool: str, scope: str) -> MCPError:
    """The JSON-RPC error for a call whose scope the caller does not hold."""
    return MCPError(code=FORBIDDEN, message=f"insufficient_scope: {tool} requires scope {scope!r}")
