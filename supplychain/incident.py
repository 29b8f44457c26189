"""`supplychain incident token <token_id|client_id>`: the leaked-credential playbook.

1. Find what the credential did: every audit record on every server whose `token_id` or `client_id`
   is the given id, within the window, newest first, with outcomes (read with the admin credential).
2. Revoke: at the dev authorization server, the token ids found (or the given one), and for a client
   every access and refresh token issued to it so far, written to the IdP's persistent revocation
   store (`idp.revocations`, in `$SUPPLYCHAIN_HOME`; the running IdP sees it at once, a stopped one
   when it starts). Servers poll the revocation list every second and refuse the token within their
   staleness bound. With another IdP, print what to revoke there instead.
3. Replace: print the command that mints a token with the same scopes (from the records' `token_scope`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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


async def find_uses(engine: AsyncEngine, servers: tuple[str, ...], credential: str, start: datetime) -> list[Use]:
    """Every call whose token id or client id is `credential` since `start`, on `servers`, newest first."""
    uses: list[Use] = []
    async with engine.connect() as connection:
        for server in servers:
            rows = await connection.execute(
                text(
                    f"SELECT {COLUMNS}, detail FROM {server}.audit_log "  # noqa: S608
                    "WHERE (token_id = :id OR client_id = :id) AND occurred_at >= :start"
                ),
                {"id": credential, "start": start},
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


def revoke_at_dev_idp(tokens: list[str], client_id: str | None) -> str:
    """Revoke `tokens` and, if given, every token of `client_id` in the dev IdP's revocation store."""
    from idp.revocations import RevocationStore  # the shell may import the dev IdP; shared servers never do

    store = RevocationStore()
    try:
        known = sum(store.revoke_jti(token) for token in tokens)
        of_client = store.revoke_client(client_id) if client_id else 0
    finally:
        store.close()
    client = f"; client {client_id}: {of_client} unexpired access token(s) and every refresh token" if client_id else ""
    return f"token ids {', '.join(tokens) or 'none'} ({known} issued by this IdP){client}"


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


async def respond(
    engine: AsyncEngine, servers: tuple[str, ...], credential: str, start: datetime, *, issuer: str, dev_idp: bool
) -> list[str]:
    """Run the playbook (see the module docstring); `dev_idp` says whether `issuer` is the dev IdP."""
    uses = await find_uses(engine, servers, credential, start)
    tokens = token_ids(uses, credential)
    client_id = credential if any(use.client_id == credential for use in uses) else None
    lines = [f"credential {credential}: {'client' if client_id else 'token'}; tokens {', '.join(tokens) or 'none'}"]
    if dev_idp:
        lines.append(f"revoked at {issuer}: {revoke_at_dev_idp(tokens, client_id)}")
    else:
        lines += other_idp_instructions(issuer, tokens, client_id)
    lines.append(f"{len(uses)} call(s) on {', '.join(servers)} since {start:%Y-%m-%d %H:%M:%S %Z}, newest first:")
    lines += [f"  {use.line()}" for use in uses]
    minted = replacements(uses)
    lines.append("mint a replacement with the same scopes:" if minted else "no token call seen: nothing to replace")
    lines += [f"  {command}" for command in minted]
    return lines
