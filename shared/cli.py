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

    click.echo("external (SUPPLYCHAIN_ADMIN_DATABASE_URL)" if external_admin_url() else f"embedded: {embedded_status()}")


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


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):  # name the setting and the rule, never echo the value
        return "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    main()
