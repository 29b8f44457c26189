"""`supplychain db upgrade-squashed`: the database command that re-stamps."""

from __future__ import annotations

import asyncio

import click


@click.command("upgrade-squashed")
def db_upgrade_squashed() -> None:
    """Move a database migrated by the old eight-revision chains onto the one initial revision (docs/upgrading.md)."""
    from supplychain.admin import AdminError
    from supplychain.embedded import admin_url
    from supplychain.squashed import upgrade_squashed

    try:
        lines = asyncio.run(upgrade_squashed(admin_url()))
    except AdminError as exc:
        raise click.ClickException(str(exc)) from None
    for line in lines:
        click.echo(line)
