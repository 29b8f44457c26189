"""`supplychain audit review` and `supplychain incident token`: thin commands over `supplychain.review` and
`supplychain.incident` (attached to the main command in `supplychain.cli`)."""

from __future__ import annotations

import asyncio
import sys

import click

from deployment.registry import SERVERS
from supplychain.terminal import echo_lines


def _one_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@click.command("review")
@click.option("--since", default="24h", show_default=True, help="How far back: 90s, 30m, 24h, 7d.")
@click.option("--server", "servers", multiple=True, type=click.Choice(SERVERS), help="Only this server (repeatable).")
@click.option("--tenant", default=None, help="Only this tenant.")
def audit_review(since: str, servers: tuple[str, ...], tenant: str | None) -> None:
    """Per tenant: calls, refusals, step-ups, approvals; flags bursts and shared tokens (exit 1 if any)."""
    from datetime import UTC, datetime

    from supplychain.admin import admin_engine
    from supplychain.embedded import admin_url
    from supplychain.review import ReviewSettings, parse_duration, review_servers

    try:
        window, settings = parse_duration(since), ReviewSettings()
    except ValueError as exc:
        raise click.BadParameter(_one_line(exc)) from None

    async def run() -> bool:
        engine = admin_engine(admin_url())
        try:
            lines, flagged = await review_servers(
                engine, servers or SERVERS, start=datetime.now(UTC) - window, tenant=tenant, settings=settings
            )
        finally:
            await engine.dispose()
        echo_lines(lines)
        return flagged

    if asyncio.run(run()):
        sys.exit(1)


@click.group()
def incident() -> None:
    """Incident response playbooks."""


_PENDING = click.option(
    "--pending", type=click.Choice(["hold", "cancel"]), default="hold", show_default=True,
    help="What to do with pending approvals it asked for: hold (stay pending, cannot run until released) "
    "or cancel (end them void).",
)  # fmt: skip
_SINCE = click.option("--since", default="24h", show_default=True, help="How far back to list: 90s, 30m, 24h, 7d.")
_ISSUER = click.option(
    "--issuer", default=None, help="The authorization server the servers trust (default: their setting)."
)


@incident.command("token")
@click.argument("credential")
@_SINCE
@_ISSUER
@_PENDING
def incident_token(credential: str, since: str, issuer: str | None, pending: str) -> None:
    """Contain a leaked access token (its token_id), refresh token or client (its client_id): revoke its grant or
    disable the client, hold or void what it asked for, list what it did; exit 1 if anything is left open."""
    _run_incident(credential, since, issuer, pending, as_user=False)


@incident.command("user")
@click.argument("user_id")
@_SINCE
@_ISSUER
@_PENDING
def incident_user(user_id: str, since: str, issuer: str | None, pending: str) -> None:
    """Contain a compromised user: revoke every grant of theirs, hold or void what they asked for, list it."""
    _run_incident(user_id, since, issuer, pending, as_user=True)


def _run_incident(credential: str, since: str, issuer: str | None, pending: str, *, as_user: bool) -> None:
    import re
    from datetime import UTC, datetime

    from supplychain.admin import admin_engine
    from supplychain.embedded import admin_url
    from supplychain.incident import Report, is_dev_idp, respond
    from supplychain.review import parse_duration
    from supplychain.servers import load_settings

    if not re.fullmatch(r"[A-Za-z0-9._:~+/=@-]{1,200}", credential):
        raise click.BadParameter(
            f"{credential[:40]!r} is not a token id, client id or user id", param_hint="CREDENTIAL"
        )
    if credential == "local":
        raise click.BadParameter("'local' names calls over stdio: no token to revoke", param_hint="CREDENTIAL")
    try:
        start = datetime.now(UTC) - parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(_one_line(exc), param_hint="--since") from None
    issuer = issuer or load_settings(SERVERS[0]).issuer_url
    dev_idp = is_dev_idp(issuer)

    async def run() -> Report:
        engine = admin_engine(admin_url())
        try:
            return await respond(engine, SERVERS, credential, start, issuer=issuer, dev_idp=dev_idp,
                                 as_user=as_user, pending="cancel" if pending == "cancel" else "hold")  # fmt: skip
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    echo_lines(report.lines)
    if report.left_open:
        sys.exit(1)
