"""`supplychain new-server <name>`: the click command around `supplychain.scaffold.writer`."""

from __future__ import annotations

import click

from supplychain.scaffold.names import ScaffoldError
from supplychain.scaffold.writer import plan, project_root, write


@click.command("new-server")
@click.argument("name")
def new_server(name: str) -> None:
    """Scaffold server NAME: package, migration, fixtures, tests, snapshot, registry entry and policy lines."""
    root = project_root()
    try:
        the_plan = plan(name, root)
        written = write(the_plan, root)
    except ScaffoldError as refused:
        raise click.ClickException(f"{refused}; nothing was written") from None
    for path in written:
        click.echo(f"wrote {path.relative_to(root)}")
    click.echo(
        f"\n{name}: port {the_plan.port}, segment {the_plan.segment}, scopes {name}:read and {name}:write. Next:\n"
        "  uv run supplychain db init && uv run supplychain db seed   # its role, schema, tables and fixtures\n"
        f"  uv run pytest tests/{name}                                # its own tests\n"
        f"  uv run supplychain serve {name} --transport stdio       # or: claude-config, serve all, demo\n"
        f"Then write the domain in servers/{name}/ (models, service, tools; the tool table in server.py),\n"
        "and review the roles' lines added to shared/policy.py."
    )
