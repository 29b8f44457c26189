"""`supplychain gateway ...`: render the HAProxy config, run the phase 3 topology, reload after a key rotation."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any, NoReturn

import click
from pydantic import ValidationError
from securemcp.settings import SettingsError

from deployment.registry import GATEWAY_PORT, IDP_PORT
from supplychain.gateway_settings import GatewaySettings


def _settings(**overrides: Any) -> GatewaySettings:
    try:
        return GatewaySettings(**{key: value for key, value in overrides.items() if value is not None})
    except (SettingsError, ValidationError) as exc:
        message = (
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        raise click.ClickException(f"gateway settings: {message}") from None


_ISSUER = click.option(
    "--issuer", "issuer_url", default=None, help=f"Authorization server (default http://127.0.0.1:{IDP_PORT})."
)
_PUBLIC = click.option(
    "--public-url", default=None, help=f"The gateway's public origin (default https://127.0.0.1:{GATEWAY_PORT})."
)


@click.group()
def gateway() -> None:
    """Phase 3: every registered server behind an HAProxy gateway (settings: SUPPLYCHAIN_GATEWAY_*)."""


@gateway.command("render")
@_ISSUER
@_PUBLIC
@click.option("--bind", default=None, help=f"Address:port HAProxy listens on (default 127.0.0.1:{GATEWAY_PORT}).")
@click.option("--run-dir", type=click.Path(), default=None, help="Output folder (default $SUPPLYCHAIN_HOME/gateway).")
def render_command(issuer_url: str | None, public_url: str | None, bind: str | None, run_dir: str | None) -> None:
    """Write the live HAProxy config and its files from deploy/gateway/haproxy.cfg.

    Reads the issuer's JWKS (RFC 8414 discovery, or SUPPLYCHAIN_GATEWAY_JWKS_URL) and writes into the
    run folder: keys/<kid>.pem (SPKI public keys, algorithm pinned per key), origins.lst
    (SUPPLYCHAIN_GATEWAY_ALLOWED_ORIGINS, JSON list), tenant-limits.map (SUPPLYCHAIN_GATEWAY_TENANT_LIMITS,
    JSON object tenant -> requests per RATE_PERIOD_SECONDS; others get DEFAULT_TENANT_LIMIT), the route
    maps, tls.pem (TLS_CERTFILE + TLS_KEYFILE, or the dev certificates) and haproxy.cfg (backends from
    SUPPLYCHAIN_GATEWAY_BACKENDS, JSON object server -> ["host:port", ...], or REPLICAS loopback replicas
    per server at 127.0.0.11, .12, .21, ...). The config is checked with `haproxy -c` before it replaces
    the old one. After `idp rotate-keys`, run `gateway reload` (or render, then SIGUSR2 to the master).
    """
    from supplychain.gateway import GatewayError, render_from_issuer

    settings = _settings(issuer_url=issuer_url, public_url=public_url, bind=bind, run_dir=run_dir)
    try:
        path = render_from_issuer(settings)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path}")


@gateway.command("reload")
def reload_command() -> None:
    """Render again from the issuer's current keys, then a hitless reload of the running HAProxy."""
    from supplychain.gateway import GatewayError, render_from_issuer

    settings = _settings()
    try:
        render_from_issuer(settings)
        pid = int((settings.folder / "haproxy.pid").read_text().split()[0])
        os.kill(pid, signal.SIGUSR2)
    except (GatewayError, FileNotFoundError, ValueError, ProcessLookupError) as exc:
        raise click.ClickException(f"no reload: {exc}") from None
    click.echo(f"reloaded HAProxy (master pid {pid})")


@gateway.command("up")
@_ISSUER
@click.option("--replicas", type=int, default=None, help="Replicas per server (default 2).")
@click.option("--idp/--no-idp", "with_idp", default=True, show_default=True,
              help="Start the dev authorization server (with the public URLs as audiences).")  # fmt: skip
def up_command(issuer_url: str | None, replicas: int | None, with_idp: bool) -> None:
    """Run the phase 3 topology in the foreground: the dev IdP, each server as replicas on 127.0.0.x, and
    HAProxy on 127.0.0.1:8443 with the dev TLS certificate. Needs `db start` and `db init` first."""
    from securemcp.observability.logs import configure_logging

    from supplychain.dev_commands import installed
    from supplychain.devcerts import certs_dir
    from supplychain.gateway import GatewayError
    from supplychain.gateway_up import start_gateway

    if with_idp and not installed("idp"):
        raise click.ClickException(
            "--idp starts the dev authorization server, which only a checkout has: pass --no-idp and "
            "--issuer with your IdP's issuer URL"
        )
    configure_logging()
    settings = _settings(issuer_url=issuer_url, replicas=replicas)
    try:
        running = start_gateway(settings, with_idp=with_idp)
    except (GatewayError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    for server, url in running.urls.items():
        replicas_at = ", ".join(replica.address for replica in running.replicas[server])
        click.echo(f"{server}: {url}  (replicas {replicas_at})")
    click.echo(f"access log: {running.access_log}; clients trust {certs_dir() / 'ca.pem'}; Ctrl-C stops everything")

    def interrupted(*_: object) -> NoReturn:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # stop the children on SIGTERM too, not only on Ctrl-C
    code = 0
    try:
        while running.haproxy.poll() is None:
            time.sleep(0.5)
        code = 1  # HAProxy exited on its own
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    sys.exit(code)
