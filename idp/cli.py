"""`supplychain idp`: the dev authorization server's commands (development, tests and demos only).

Registered by `supplychain.cli` in a checkout; the production install has no `idp/`, and there the
command only says so (`supplychain.dev_commands`). Each command imports its work when it runs.
"""

from __future__ import annotations

import sys

import click
from pydantic import ValidationError

from deployment.registry import SERVERS


@click.group()
def idp() -> None:
    """The dev authorization server (development, tests and demos only)."""


# The same option, with the same meaning, as on `supplychain demo` and `supplychain serve`.
base_port_option = click.option(
    "--base-port", type=click.IntRange(1, 65535), default=None,
    help="A loopback stack moved to BASE: the authorization server on BASE, each server at its registry "
    "distance from it (as `supplychain serve --base-port BASE` and `supplychain demo --base-port BASE`).",
)  # fmt: skip


@idp.command("serve")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; loopback only).")
@click.option("--port", type=int, default=None, help="Port (default 8100).")
@base_port_option
def idp_serve(host: str | None, port: int | None, base_port: int | None) -> None:
    """Run the dev authorization server (issuer http://127.0.0.1:8100 by default)."""
    from securemcp.settings import SettingsError

    from idp.app import serve as serve_idp
    from idp.settings import IdpSettings, base_port_overrides

    if port is not None and base_port is not None:
        raise click.UsageError("give --port or --base-port, not both")
    overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    overrides |= base_port_overrides(base_port)
    try:
        settings = IdpSettings(**overrides)
    except (SettingsError, ValueError) as exc:
        click.echo(f"supplychain idp serve: refusing to start: {_one_line(exc)}", err=True)
        sys.exit(2)
    click.echo(f"dev authorization server: issuer {settings.issuer} (fixture users, dev passwords)", err=True)
    serve_idp(settings)


@idp.command("token")
@click.option("--user", required=True, help="A fixture user, e.g. alice@acme.")
@click.option("--server", "server_name", required=True, type=click.Choice(SERVERS), help="The token's audience.")
@click.option("--scope", default=None, help="Space-separated scopes (default: all the roles allow on that server).")
@base_port_option
def idp_token(user: str, server_name: str, scope: str | None, base_port: int | None) -> None:
    """DEV ONLY: print an access token signed with the on-disk key (the dev server need not run).

    The token is the one `idp serve` with the same options and `SUPPLYCHAIN_HOME` would issue: its
    issuer, its signing key, and the server's resource URL in that stack as audience.
    """
    from idp.settings import IdpSettings, base_port_overrides
    from idp.tokens import mint_access_token, parse_scope

    try:
        settings = IdpSettings(**base_port_overrides(base_port))
        click.echo(mint_access_token(user=user, server=server_name, scopes=parse_scope(scope), settings=settings))
    except ValueError as exc:
        raise click.ClickException(_one_line(exc)) from None


@idp.command("rotate-keys")
def idp_rotate_keys() -> None:
    """Add a new signing key; keep the previous one published, drop older ones."""
    from idp.keys import keys_dir, rotate_keys

    key = rotate_keys()
    click.echo(f"new signing key {key.kid} in {keys_dir()} (the previous key stays published)")


@idp.command("add-client")
@click.option("--name", required=True, help="A name for the service agent.")
@click.option("--tenant", required=True, help="The tenant its tokens are bound to.")
@click.option("--roles", required=True, help="Comma-separated roles, e.g. analyst.")
def idp_add_client(name: str, tenant: str, roles: str) -> None:
    """Register a client-credentials client bound to a tenant and roles; prints its secret once."""
    from idp.clients import add_service_client, clients_file

    try:
        client, secret = add_service_client(
            name=name, tenant=tenant, roles=[role.strip() for role in roles.split(",") if role.strip()]
        )
    except ValueError as exc:
        raise click.ClickException(_one_line(exc)) from None
    click.echo(f"client_id: {client.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo(f"(the secret is shown once; {clients_file()} keeps only its hash)", err=True)


@idp.command("rotate-client-secret")
@click.argument("client_id")
def idp_rotate_client_secret(client_id: str) -> None:
    """Give a confidential client a new secret and enable it again (after an incident disabled it)."""
    from idp.clients import clients_file, rotate_client_secret

    try:
        client, secret = rotate_client_secret(client_id)
    except ValueError as exc:
        raise click.ClickException(_one_line(exc)) from None
    click.echo(f"client_id: {client.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo(f"(the old secret no longer works; {clients_file()} keeps only the new one's hash)", err=True)


def _one_line(exc: Exception) -> str:
    # The shell's helper of the same name, repeated: the dev IdP sits below the shell and cannot import it.
    if isinstance(exc, ValidationError):  # name the setting and the rule, never echo the value
        return "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
