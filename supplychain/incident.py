"""`supplychain incident token <credential>` and `incident user <user>`: the leaked-credential playbook.

1. Contain, whatever leaked (`supplychain.containment`): an access or refresh token revokes its whole
   grant; a client is disabled until its secret is rotated, and its grants revoked; a user loses every
   grant. Written to the dev IdP's persistent store; servers see it within their staleness bound.
   With another IdP, print what to revoke there instead (and count it as left open).
2. Every pending approval the revoked credential (or user) asked for, on every server, is held (default:
   it stays pending but cannot run until released) or voided (`--pending cancel`)
   (`supplychain.held_approvals`).
3. List what the credential did: every audit record on every server whose `token_id` is one of the
   grant's tokens (a decision's record carries its requester's token id, so the execution of an
   approval it asked for is listed) or whose `client_id` is the client, newest first.
4. Replace: print the command that mints a token with the same scopes (from the records' `token_scope`).

The report ends with what is left open; the command exits non-zero when anything is.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from supplychain.containment import contain_at_dev_idp
from supplychain.held_approvals import PendingAction, contain_pending

COLUMNS = "occurred_at, tenant_id, user_id, client_id, token_id, token_scope, client_address, tool, decision, outcome"


@dataclass(frozen=True)
class Use:
    """One call the credential made."""

    server: str
    occurred_at: datetime
    tenant_id: str
    user_id: str
    client_id: str
    token_id: str | None
    token_scope: str | None
    client_address: str | None
    tool: str
    decision: str
    outcome: str
    detail: str | None

    def line(self) -> str:
        """The call as one line of the listing."""
        detail = f" ({self.detail[:80]})" if self.detail else ""
        return (
            f"{self.occurred_at:%Y-%m-%d %H:%M:%S.%f} {self.server:<9} {self.tenant_id}/{self.user_id} "
            f"{self.tool} {self.outcome} [{self.decision}] token {self.token_id} from {self.client_address or '-'}"
            f"{detail}"
        )


async def find_uses(
    engine: AsyncEngine, servers: tuple[str, ...], credential: str, start: datetime, token_ids: Sequence[str] = ()
) -> list[Use]:
    """Every call whose token id is `credential` or one of `token_ids`, or whose client id is `credential`,
    since `start`, on `servers`, newest first."""
    uses: list[Use] = []
    async with engine.connect() as connection:
        for server in servers:
            rows = await connection.execute(
                text(
                    f"SELECT {COLUMNS}, detail FROM {server}.audit_log "  # noqa: S608
                    "WHERE (token_id = :id OR token_id = ANY(:tokens) OR client_id = :id) AND occurred_at >= :start"
                ),
                {"id": credential, "tokens": list(token_ids), "start": start},
            )
            uses += [Use(server=server, **row) for row in rows.mappings()]
    uses.sort(key=lambda use: use.occurred_at, reverse=True)
    return uses


def token_ids(uses: list[Use], credential: str) -> list[str]:
    """The token ids to revoke: the credential itself when it is a token id, and every token it used."""
    found = {use.token_id for use in uses if use.token_id not in (None, "local")}
    if not any(use.client_id == credential for use in uses):
        found.add(credential)  # a token id (perhaps one that made no call in the window)
    return sorted(str(token) for token in found)


def is_dev_idp(issuer: str) -> bool:
    """True when `issuer` is this checkout's dev authorization server.

    The production install has no dev IdP (`supplychain.dev_commands`): there every issuer is another IdP,
    and the playbook prints what to revoke there.
    """
    from supplychain.dev_commands import installed

    if not installed("idp"):
        return False
    from idp.settings import IdpSettings

    return issuer == IdpSettings().issuer


def other_idp_instructions(issuer: str, tokens: list[str], client_id: str | None) -> list[str]:
    """What to do at an authorization server that is not the dev one."""
    lines = [f"the servers trust {issuer}, not the dev authorization server: revoke there, for example"]
    lines += [f"  - the access token with jti {token} (your IdP's console or admin API)" for token in tokens]
    if client_id:
        lines.append(f"  - every grant and refresh token of client {client_id}, or disable the client")
    lines.append("  servers refuse a revoked token only if your IdP publishes a revocation list they poll")
    lines.append("  (metadata `supplychain_revocation_list_uri`); otherwise it works until it expires.")
    return lines


def replacements(uses: list[Use]) -> list[str]:
    """`supplychain idp token` commands minting tokens with the same user, server and scopes."""
    seen = sorted({(use.user_id, use.server, use.token_scope or "") for use in uses if use.token_scope})
    return [
        f"uv run supplychain idp token --user {shlex.quote(user)} --server {server}"
        + (f" --scope {shlex.quote(scope)}" if scope else "")
        for user, server, scope in seen
    ]


@dataclass
class Report:
    """What the playbook printed, and whether anything is left open (the command then exits 1)."""

    lines: list[str]
    left_open: int


def shown(credential: str, kind: str) -> str:
    """How the report and the records name `credential`: a secret (a refresh token, or anything too long
    or JWT-shaped to be an id) only by a SHA-256 prefix, so the playbook never copies a token anywhere."""
    secret = kind == "refresh token" or len(credential) > 64 or credential.count(".") == 2
    return f"sha256:{hashlib.sha256(credential.encode()).hexdigest()[:16]}" if secret else credential


async def respond(
    engine: AsyncEngine, servers: tuple[str, ...], credential: str, start: datetime, *, issuer: str, dev_idp: bool,
    as_user: bool = False, pending: PendingAction = "hold",
) -> Report:  # fmt: skip
    """Run the playbook (see the module docstring); `dev_idp` says whether `issuer` is the dev IdP."""
    left_open = 0
    if dev_idp:
        contained = contain_at_dev_idp(credential, as_user=as_user)
        kind: str = contained.kind
        grants, tokens = contained.grants, contained.token_ids
        lines = [f"credential {shown(credential, kind)}: {kind}; grants {', '.join(grants) or 'none'}"]
        lines += [f"revoked at {issuer}: {done}" for done in contained.done]
        lines += [f"NOT DONE: {item}" for item in contained.not_done]
        left_open += len(contained.not_done)
        user = contained.user_id if kind == "user" else None
    else:
        uses = await find_uses(engine, servers, credential, start)
        tokens = token_ids(uses, credential)
        client_id = credential if any(use.client_id == credential for use in uses) else None
        kind = "user" if as_user else "client" if client_id else "token"
        grants, user = [], credential if as_user else None
        lines = [f"credential {shown(credential, kind)}: {kind}; tokens {', '.join(tokens) or 'none'}"]
        lines += [f"NOT DONE: {line}" for line in other_idp_instructions(issuer, tokens, client_id)]
        left_open += 1
    asked = await contain_pending(
        engine, servers, grants=grants, tokens=tokens, user=user, action=pending,
        reason=f"incident: the credential {shown(credential, kind)} ({kind}) was revoked",
    )  # fmt: skip
    lines.append(f"{len(asked)} pending approval(s) it asked for ({pending}):")
    lines += [f"  {approval.line()}" for approval in asked]
    left_open += sum(approval.state == "pending" for approval in asked)
    uses = await find_uses(engine, servers, credential, start, tokens)
    lines.append(f"{len(uses)} call(s) on {', '.join(servers)} since {start:%Y-%m-%d %H:%M:%S %Z}, newest first:")
    lines += [f"  {use.line()}" for use in uses]
    minted = replacements(uses)
    lines.append("mint a replacement with the same scopes:" if minted else "no token call seen: nothing to replace")
    lines += [f"  {command}" for command in minted]
    lines.append(f"left open: {left_open}" if left_open else "left open: nothing")
    return Report(lines, left_open)
