"""The `supplychain` command: database, servers, demo and client configs."""

from __future__ import annotations

import asyncio
import sys

import click
from pydantic import ValidationError

from shared.policy import SERVERS


@click.group()
def main() -> None:
    """Secure multi-tenant MCP servers for a supply chain."""


@main.group()
def db() -> None:
    """The database: embedded Postgres by default, or SUPPLYCHAIN_ADMIN_DATABASE_URL."""


@db.command("start")
def db_start() -> None:
    """Start the embedded Postgres (left running until `db stop`)."""
    from shared.embedded import external_admin_url, start_embedded

    if external_admin_url():
        raise click.ClickException("SUPPLYCHAIN_ADMIN_DATABASE_URL is set: that database is yours to start")
    start_embedded()
    click.echo("embedded Postgres running")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded Postgres."""
    from shared.embedded import stop_embedded

    stop_embedded()
    click.echo("embedded Postgres stopped")


@db.command("status")
def db_status() -> None:
    """Say whether the database is running and which one it is."""
    from shared.embedded import embedded_status, external_admin_url

    click.echo(
        "external (SUPPLYCHAIN_ADMIN_DATABASE_URL)" if external_admin_url() else f"embedded: {embedded_status()}"
    )


@db.command("url")
def db_url() -> None:
    """Print the admin database URL (for psql; it is the admin credential, keep it local)."""
    from shared.embedded import admin_url

    click.echo(admin_url(start=False))


@db.command("init")
def db_init() -> None:
    """Create roles, schemas and tables, and write one secrets file per server."""
    from shared.admin import init_database
    from shared.embedded import admin_url
    from shared.settings import server_dsn_file

    asyncio.run(init_database(admin_url()))
    for server in SERVERS:
        click.echo(f"{server}: role {server}_svc, credential in {server_dsn_file(server)}")


@db.command("seed")
def db_seed() -> None:
    """Replace the fixture tenants' data with the deterministic fixtures."""
    from shared.admin import seed_database
    from shared.embedded import admin_url

    counts = asyncio.run(seed_database(admin_url()))
    click.echo(", ".join(f"{server}: {count} records" for server, count in counts.items()))


@main.command()
@click.argument("server", type=click.Choice(SERVERS))
@click.option("--transport", type=click.Choice(["stdio"]), default="stdio", show_default=True)
@click.option("--read-only", is_flag=True, help="Honour only reading scopes, whatever the roles allow.")
def serve(server: str, transport: str, read_only: bool) -> None:
    """Run one server. Over stdio the caller is SUPPLYCHAIN_TENANT / _USER / _ROLES."""
    from shared.identity import IdentityError, local_identity_from_env
    from shared.logs import configure_logging
    from shared.servers import load_settings, server_module
    from shared.settings import SettingsError

    configure_logging()
    try:
        settings = load_settings(server, **({"read_only": True} if read_only else {}))
        identity = local_identity_from_env(read_only_mode=settings.read_only)
        settings.resolved_database_url()  # fail now, not at the first call
    except (IdentityError, SettingsError, ValueError) as exc:
        click.echo(f"supplychain serve {server}: refusing to start: {_one_line(exc)}", err=True)
        sys.exit(2)
    server_module(server).build_server(settings, local_identity=identity).run("stdio")


@main.command()
@click.option("--yes", "assume_yes", is_flag=True, help="Approve every side effect without asking.")
@click.option("--reset", is_flag=True, help="Restore the fixture data before the run.")
def demo(assume_yes: bool, reset: bool) -> None:
    """The main job: embedded Postgres, the four servers, and a scripted agent run."""
    from demo.agent import DemoFailed, run_scenario
    from shared.admin import database_is_seeded, init_database, seed_database
    from shared.embedded import admin_url
    from shared.logs import configure_logging

    configure_logging()
    click.echo("Preparing the database (embedded Postgres unless SUPPLYCHAIN_ADMIN_DATABASE_URL is set) ...")
    url = admin_url()
    asyncio.run(init_database(url))
    if reset or not asyncio.run(database_is_seeded(url)):
        asyncio.run(seed_database(url))
        click.echo("Loaded the fixture tenants acme and globex.")
    try:
        asyncio.run(run_scenario(assume_yes=assume_yes))
    except* DemoFailed as failures:  # raised inside the clients' task groups, so it arrives grouped
        click.secho(f"demo failed: {_innermost(failures)}", fg="red", err=True)
        sys.exit(1)


@main.command("claude-config")
@click.option("--phase", type=click.Choice(["stdio"]), default="stdio", show_default=True)
@click.option(
    "--user", default="alice@acme", show_default=True, help="A fixture user, or any user with --tenant/--roles."
)
@click.option("--tenant", default=None, help="Tenant id (defaults to the fixture user's).")
@click.option("--roles", default=None, help="Comma-separated roles (default: the fixture user's).")
@click.option("--allow-writes", is_flag=True, help="Omit --read-only: side effects become possible (still approved).")
def claude_config(phase: str, user: str, tenant: str | None, roles: str | None, allow_writes: bool) -> None:
    """Print a Claude Desktop config that runs the four servers (phase 1: local stdio subprocesses)."""
    import json
    from pathlib import Path

    from demo.claude_config import stdio_config
    from fixtures.tenants import USERS
    from shared.identity import IdentityError, identity_from_roles
    from shared.settings import home_dir

    role_tuple = tuple(r.strip() for r in roles.split(",")) if roles else None
    if user not in USERS and (tenant is None or role_tuple is None):
        raise click.ClickException(f"{user!r} is not a fixture user: pass --tenant and --roles")
    try:  # validate now, so a bad config is caught here rather than when Claude starts the server
        fixture_tenant, fixture_roles = USERS.get(user, ("", ()))
        identity_from_roles(
            tenant_id=tenant or fixture_tenant, user_id=user, roles=frozenset(role_tuple or fixture_roles)
        )
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    repo = Path(__file__).resolve().parent.parent
    config = stdio_config(
        repo=repo, home=home_dir(), user=user, tenant=tenant, roles=role_tuple, read_only=not allow_writes
    )
    click.echo(json.dumps(config, indent=2))


def _innermost(group: BaseExceptionGroup[Exception]) -> BaseException:
    """The first real exception inside (possibly nested) exception groups."""
    first: BaseException = group.exceptions[0]
    return _innermost(first) if isinstance(first, BaseExceptionGroup) else first


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):  # name the setting and the rule, never echo the value
        return "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    main()
