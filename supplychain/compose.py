"""`supplychain deploy compose`: compose.yaml, written from the server registry and its template.

Every server in `deployment.registry` gets its phase 2 service, its two phase 3 replicas, its secrets,
its audit volume and its four networks (`<server>-data`, `-idp`, `-edge`, `-gw`); its gateway
network's subnet is `172.28.<segment>.0/24`, and the gateway's address there `172.28.<segment>.10`.
The template is deploy/compose/compose.yaml.j2; tests/deploy fails when the committed compose.yaml
is not what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deployment.registry import GATEWAY_PORT, IDP_PORT, REGISTRY

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "deploy" / "compose" / "compose.yaml.j2"
COMPOSE_FILE = REPO / "compose.yaml"
REPLICAS = (1, 2)
SUBNET_BASE = "172.28"  # each server's gateway network: <base>.<segment>.0/24
PUBLIC_HOST = "${PUBLIC_HOST:?set PUBLIC_HOST, see README.md}"
SECRETS_DIR = "${SECRETS_DIR:?set SECRETS_DIR to the folder deploy/compose/make_secrets.py wrote}"


def render_compose() -> str:
    """The text of compose.yaml for the servers in the registry."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined  # here: the CLI loads this module on every start

    # YAML, not HTML: autoescaping would corrupt quotes; every value comes from the registry or this module.
    environment = Environment(  # noqa: S701
        loader=FileSystemLoader(TEMPLATE.parent),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    return environment.get_template(TEMPLATE.name).render(
        servers=list(REGISTRY.values()),
        host=PUBLIC_HOST,
        secrets=SECRETS_DIR,
        idp_port=IDP_PORT,
        gateway_port=GATEWAY_PORT,
        replicas=REPLICAS,
        subnet_base=SUBNET_BASE,
        template=TEMPLATE.relative_to(REPO).as_posix(),
    )


@click.group()
def deploy() -> None:
    """Deployment files written from the server registry (deployment/registry.py)."""


@deploy.command("compose")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=COMPOSE_FILE, show_default=True)
@click.option("--check", is_flag=True, help="Write nothing; fail when the file is not what would be written.")
def compose(output: Path, check: bool) -> None:
    """Write compose.yaml: every registered server, its replicas, secrets, volumes and networks."""
    text = render_compose()
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            click.echo(f"{output} is out of date: run `supplychain deploy compose`", err=True)
            sys.exit(1)
        click.echo(f"{output} is up to date", err=True)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} ({len(REGISTRY)} servers)", err=True)
