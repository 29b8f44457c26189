"""`supplychain new-server <name>`: the click command around `supplychain.scaffold.writer`."""

from __future__ import annotations

import click


@click.command("new-server")
@click.argument("name")
def new_server(name: str) -> None:
    """Scaffold server NAME: package, migration, fixtures, tests, snapshot, registry entry and policy lines."""
    # Imported here: every `supplychain` command (a server's start too) loads this module, few scaffold.
    from supplychain.scaffold.edits import policy_lines
    from supplychain.scaffold.names import ScaffoldError
    from supplychain.scaffold.writer import plan, project_root, write

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
        f"Then write the domain in servers/{name}/ (models, service, tools: a read is a function, a side effect\n"
        "one SideEffect declaration; the tool table in server.py).\n"
    )
    # Who may act on the new server is a decision, not a default to find later: show every grant made.
    click.echo("It gave these roles scopes on the new server, in deployment/policy.py:")
    for line in policy_lines(the_plan.grants):
        click.echo(f"  {line}")
    click.echo(
        "Edit or delete those lines to change who may read, write and decide; keep the same scopes in\n"
        f"tests/{name}/cases.py ROLES (tests/shared/test_identity.py pins them)."
    )
