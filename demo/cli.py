"""`supplychain demo` and `supplychain claude-config`: the demo's commands (development only).

Registered by `supplychain.cli` in a checkout; the production install has no `demo/` or `fixtures/`,
and there each command only says so (`supplychain.dev_commands`). Their work is imported when they run.
"""

from __future__ import annotations

import asyncio
import sys

import click

from deployment.registry import GATEWAY_PORT, IDP_PORT, SERVERS


@click.command()
@click.option("--yes", "assume_yes", is_flag=True, help="Approve every side effect without asking.")
@click.option("--reset", is_flag=True, help="Restore the fixture data before the run.")
@click.option("--transport", type=click.Choice(["http", "stdio", "gateway"]), default="http", show_default=True,
              help="http: phase 2 with OAuth (the default); stdio: phase 1 subprocesses; "
                   "gateway: phase 3, the OAuth run through HAProxy on 127.0.0.1 (needs haproxy).")  # fmt: skip
@click.option("--base-port", type=int, default=IDP_PORT, show_default=True,
              help="HTTP: authorization server port; each server keeps its registry distance from it.")  # fmt: skip
@click.option("--gateway-port", type=int, default=GATEWAY_PORT, show_default=True, help="gateway: HAProxy's port.")
@click.option("--enterprise", is_flag=True,
              help="Enterprise-managed authorization (SEP-990): an agent reaches inventory with each tenant's "
                   "company-IdP identity (ID-JAG), no consent screen (over HTTP).")  # fmt: skip
@click.option("--keep", is_flag=True,
              help="Leave the embedded Postgres running afterwards (`supplychain db stop` stops it). Without it "
                   "the demo stops the embedded Postgres it started; one running before is left running.")  # fmt: skip
def demo(
    assume_yes: bool, reset: bool, transport: str, base_port: int, gateway_port: int, enterprise: bool, keep: bool
) -> None:
    """The main job: embedded Postgres, every registered server, and a scripted agent run."""
    from securemcp.observability.logs import configure_logging

    from demo.agent import DemoFailed, run_http, run_stdio
    from demo.browser import BrowserFailed
    from demo.enterprise import run_enterprise
    from demo.four_eyes import FourEyesFailed
    from demo.stack import StartFailed
    from supplychain.admin import database_is_seeded, init_database, seed_database
    from supplychain.embedded import admin_url, embedded_status, external_admin_url
    from supplychain.gateway import GatewayError

    if enterprise and transport != "http":
        raise click.UsageError("--enterprise runs over HTTP (phase 2): leave out --transport")
    configure_logging()
    click.echo("Preparing the database (embedded Postgres unless SUPPLYCHAIN_ADMIN_DATABASE_URL is set) ...")
    # Asked before anything starts: the demo stops only what it started itself.
    started_here = external_admin_url() is None and embedded_status() != "running"
    try:
        url = admin_url()
        asyncio.run(init_database(url))
        if reset or not asyncio.run(database_is_seeded(url)):
            asyncio.run(seed_database(url))
            click.echo("Loaded the fixture tenants acme and globex.")
        if enterprise:
            asyncio.run(run_enterprise(base_port=base_port))
        elif transport == "stdio":
            asyncio.run(run_stdio(assume_yes=assume_yes))
        else:
            via_gateway = transport == "gateway"
            asyncio.run(
                run_http(assume_yes=assume_yes, base_port=base_port, via_gateway=via_gateway, gateway_port=gateway_port)
            )
    # Failures may arrive grouped by task groups.
    except* (DemoFailed, BrowserFailed, FourEyesFailed, StartFailed, GatewayError) as failures:
        click.secho(f"demo failed: {_innermost(failures)}", fg="red", err=True)
        sys.exit(1)
    finally:
        if external_admin_url() is None:  # a database you configured is yours to run and stop
            click.echo(_leave_embedded_database(started_here=started_here, keep=keep))


def _leave_embedded_database(*, started_here: bool, keep: bool) -> str:
    """Stop the embedded Postgres if this demo started it and `--keep` was not given; say what became of it."""
    from supplychain.embedded import stop_embedded

    if not started_here:
        return "The embedded Postgres was running before the demo: left running (`supplychain db stop` stops it)."
    if keep:
        return "The embedded Postgres is left running (--keep): `supplychain db stop` stops it."
    stop_embedded()
    return "Stopped the embedded Postgres the demo started (`--keep` leaves it running)."


@click.command("claude-config")
@click.option("--phase", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option(
    "--user", default="alice@acme", show_default=True, help="stdio: a fixture user, or any with --tenant/--roles."
)
@click.option("--tenant", default=None, help="stdio: tenant id (defaults to the fixture user's).")
@click.option("--roles", default=None, help="stdio: comma-separated roles (default: the fixture user's).")
@click.option("--allow-writes", is_flag=True, help="stdio: omit --read-only (side effects still need approval).")
def claude_config(phase: str, user: str, tenant: str | None, roles: str | None, allow_writes: bool) -> None:
    """Print a Claude Desktop config for every registered server (stdio subprocesses, or remote over HTTP)."""
    import json
    from pathlib import Path

    from securemcp.identity.principal import IdentityError, identity_from_roles
    from securemcp.settings import home_dir

    from demo.claude_config import http_config, stdio_config
    from deployment.policy import POLICY
    from fixtures.tenants import USERS
    from supplychain.servers import load_settings

    if phase == "http":
        urls = {server: load_settings(server).resource_url for server in SERVERS}
        click.echo(json.dumps(http_config(server_urls=urls), indent=2))
        hint = "Start `supplychain idp serve` and `supplychain serve all` first; Claude Desktop's custom connectors"
        click.echo(f"{hint} (Settings > Connectors) also take these URLs directly.", err=True)
        return
    role_tuple = tuple(r.strip() for r in roles.split(",")) if roles else None
    if user not in USERS and (tenant is None or role_tuple is None):
        raise click.ClickException(f"{user!r} is not a fixture user: pass --tenant and --roles")
    try:  # validate now, so a bad config is caught here rather than when Claude starts the server
        fixture_tenant, fixture_roles = USERS.get(user, ("", ()))
        identity_from_roles(
            policy=POLICY,
            tenant_id=tenant or fixture_tenant,
            user_id=user,
            roles=frozenset(role_tuple or fixture_roles),
        )
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    repo = Path(__file__).resolve().parent.parent  # the checkout the stdio config runs `uv run` in
    config = stdio_config(
        repo=repo, home=home_dir(), user=user, tenant=tenant, roles=role_tuple, read_only=not allow_writes
    )
    click.echo(json.dumps(config, indent=2))


def _innermost(group: BaseExceptionGroup[Exception]) -> BaseException:
    """The first real exception inside (possibly nested) exception groups."""
    first: BaseException = group.exceptions[0]
    return _innermost(first) if isinstance(first, BaseExceptionGroup) else first
