"""`supplychain db reset` and `supplychain db upgrade-squashed`: the two database commands that rebuild or re-stamp."""

from __future__ import annotations

import asyncio
import sys

import click


@click.command("reset")
@click.option("--yes", "assume_yes", is_flag=True, help="Do not ask first (required without a terminal).")
def db_reset(assume_yes: bool) -> None:
    """Delete the embedded Postgres and make it again: every server's data and audit trail go; then init and seed."""
    from supplychain.admin import AdminError, init_database, seed_database
    from supplychain.embedded import NotEmbeddedError, delete_embedded, pgdata_dir, start_embedded
    from supplychain.reset import refusal, set_checkpoints_aside, set_verified_heads_aside

    reason = refusal()
    if reason:
        raise click.ClickException(f"db reset: {reason}")
    if not assume_yes:
        if not sys.stdin.isatty():  # nobody to ask: a script must say --yes itself
            raise click.ClickException("db reset: no terminal to ask for confirmation: pass --yes to reset without one")
        click.confirm(
            f"Delete the embedded database in {pgdata_dir()}, every server's data and audit trail with it, "
            "and make it again?",
            abort=True,
        )
    try:
        pgdata = delete_embedded()
    except NotEmbeddedError as exc:
        raise click.ClickException(f"db reset: {exc}") from None
    kept, verified = set_checkpoints_aside(), set_verified_heads_aside()
    url = start_embedded()
    try:
        asyncio.run(init_database(url))
        counts = asyncio.run(seed_database(url))
    except AdminError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"embedded Postgres deleted and made again in {pgdata}, initialised and seeded")
    click.echo(", ".join(f"{server}: {count} records" for server, count in counts.items()))
    if kept:
        click.echo(f"the deleted trails' audit checkpoints are kept in {kept}")
    if verified:
        click.echo(f"the checkpoints `audit verify` last verified in them are kept in {verified}")


@click.command("upgrade-squashed")
def db_upgrade_squashed() -> None:
    """Move a database migrated by the old eight-revision chains onto the one initial revision, and bring
    security tables made before this version up to date (docs/upgrading.md)."""
    from supplychain.admin import AdminError
    from supplychain.embedded import admin_url
    from supplychain.squashed import upgrade_squashed

    try:
        lines = asyncio.run(upgrade_squashed(admin_url()))
    except AdminError as exc:
        raise click.ClickException(str(exc)) from None
    for line in lines:
        click.echo(line)
