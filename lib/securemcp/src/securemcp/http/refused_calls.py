"""A `tools/call` the SDK refuses before dispatch still leaves its record.

The SDK checks a 2026-07-28 request before it dispatches it (`mcp.shared.inbound`): `params._meta`
must carry the protocol envelope (else -32602), and the `MCP-Protocol-Version`, `Mcp-Method` and
`Mcp-Name` headers must match the body (else -32020). A call refused there never reaches the tool
gate, which records every call it sees. So the HTTP gate watches the answer to every `tools/call`
POST: the tool gate marks the request scope when a call reaches it (`securemcp.gate.tool_gate.REACHED`),
and an error answer (status 400 or more) to an unmarked call is handed to `on_refused` before the
answer goes out, so the record is written before the client can read the refusal.

An accepted call pays one comparison per ASGI message of its answer; only an error answer to a call
that never reached the gate is held and parsed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from mcp.types import PARSE_ERROR
from starlette.types import Message, Scope, Send

from securemcp.gate.tool_gate import REACHED

# JSON-RPC codes the SDK answers before dispatch, by the reason a record names.
REASONS = {
    -32020: "header_mismatch", -32602: "invalid_params", -32600: "invalid_request", -32022: "unsupported_version",
}  # fmt: skip
OnRefused = Callable[[str, str], Awaitable[None]]  # (reason, the SDK's message)


def watching_refusals(scope: Scope, send: Send, on_refused: OnRefused, *, parse_error_recorded: bool = False) -> Send:
    """`send`, except that an error answer to a call the tool gate never saw calls `on_refused` first.

    `parse_error_recorded`: the caller already recorded this body as an unreadable call of its tool
    (`securemcp.audit.unreadable`), so the SDK's parse error is not recorded twice. A garbled body with
    no call to read is recorded here, as any other refusal.
    """
    already_recorded = frozenset({PARSE_ERROR}) if parse_error_recorded else frozenset()
    held: list[Message] = []

    async def watched(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400 and not scope.get(REACHED):
            held.append(message)
            return
        if held and message["type"] == "http.response.body":
            held.append(message)
            if message.get("more_body", False):
                return
            body = b"".join(part.get("body", b"") for part in held[1:])
            refusal = _reason_of(held[0]["status"], body, already_recorded)
            if refusal is not None:
                await on_refused(*refusal)
            for part in held:
                await send(part)
            held.clear()
            return
        await send(message)

    return watched


def _reason_of(status: int, body: bytes, already_recorded: frozenset[int]) -> tuple[str, str] | None:
    """The reason and message of an error answer (a JSON-RPC error, or another refusal by its status);
    None for a refusal recorded elsewhere."""
    try:
        error = json.loads(body).get("error")
        code, message = error["code"], str(error["message"])
    except (ValueError, AttributeError, KeyError, TypeError):
        return f"http_{status}", body[:200].decode("utf-8", "replace")
    if code in already_recorded:
        return None
    return REASONS.get(code, f"jsonrpc_{code}"), message[:200]
