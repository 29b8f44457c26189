"""The `supplychain` command: database, servers, audit and approvals; the dev tools add their own commands."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from pydantic import ValidationError
from securemcp.settings import ServerSettings

from deployment.registry import SERVERS, entry, loopback_issuer, port_from


@click.group()
def main() -> None:
    """Secure multi-tenant MCP servers for a supply chain."""


@main.group()
def db() -> None:
    """The database: embedded Postgres by default, or SUPPLYCHAIN_ADMIN_DATABASE_URL."""


@db.command("start")
def db_start() -> None:
    """Start the embedded Postgres (left running until `db stop`)."""
    from supplychain.embedded import external_admin_url, start_embedded

    if external_admin_url():
        raise click.ClickException("SUPPLYCHAIN_ADMIN_DATABASE_URL is set: that database is yours to start")
    start_embedded()
    click.echo("embedded Postgres running")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded Postgres."""
    from supplychain.embedded import stop_embedded

    stop_embedded()
    click.echo("embedded Postgres stopped")


@db.command("status")
def db_status() -> None:
    """Say whether the database is running and which one it is."""
    from supplychain.embedded import embedded_status, external_admin_url

    click.echo(
        "external (SUPPLYCHAIN_ADMIN_DATABASE_URL)" if external_admin_url() else f"embedded: {embedded_status()}"
    )


@db.command("url")
def db_url() -> None:
    """Print the admin database URL (for psql; it is the admin credential, keep it local)."""
    from supplychain.embedded import admin_url

    click.echo(admin_url(start=False))


@db.command("init")
def db_init() -> None:
    """Create roles, schemas and tables, and write one secrets file per server."""
    from securemcp.audit.checkpoint_keys import signing_key_file
    from securemcp.settings import server_dsn_file

    from supplychain.admin import AdminError, init_database
    from supplychain.embedded import admin_url

    try:
        asyncio.run(init_database(admin_url()))
    except AdminError as exc:
        raise click.ClickException(str(exc)) from None
    for server in SERVERS:
        click.echo(f"{server}: role {server}_svc, credential in {server_dsn_file(server)}, "
                   f"audit checkpoint key in {signing_key_file(server)}")  # fmt: skip


@db.command("seed")
def db_seed() -> None:
    """Replace the fixture tenants' data with the deterministic fixtures (development: needs fixtures/)."""
    from supplychain.admin import AdminError, seed_database
    from supplychain.dev_commands import require
    from supplychain.embedded import admin_url

    require("fixtures")  # the fixture data is a dev tool: the production install has none to load
    try:
        counts = asyncio.run(seed_database(admin_url()))
    except AdminError as exc:  # a schema the fixtures do not fit: one line saying what to run
        raise click.ClickException(str(exc)) from None
    click.echo(", ".join(f"{server}: {count} records" for server, count in counts.items()))


@main.group()
def audit() -> None:
    """The audit trail (one append-only, hash-chained log per server)."""


@audit.command("verify")
@click.option("--server", "servers", multiple=True, type=click.Choice(SERVERS), help="Only this server (repeatable).")
@click.option(
    "--checkpoints", "checkpoint_files", multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),  # a mistyped path is an error, not "0 checkpoints"
    help="Checkpoint lines to check against (repeatable; default: the configured sink file).",
)  # fmt: skip
def audit_verify(servers: tuple[str, ...], checkpoint_files: tuple[Path, ...]) -> None:
    """Check every chain and its signed checkpoints; name what is wrong and exit 1 (see securemcp/audit/verify.py)."""
    from supplychain.audit_commands import verify

    if not verify(servers or SERVERS, checkpoint_files):
        sys.exit(1)


@audit.command("checkpoint")
@click.option("--server", "servers", multiple=True, type=click.Choice(SERVERS), help="Only this server (repeatable).")
def audit_checkpoint(servers: tuple[str, ...]) -> None:
    """Sign every tenant's chain head now and append the checkpoints to the sink."""
    from supplychain.audit_commands import checkpoint

    checkpoint(servers or SERVERS)


@main.command()
@click.argument("server", type=click.Choice([*SERVERS, "all"]))
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", default=None, help="HTTP: address to bind (default 127.0.0.1).")
@click.option(
    "--port", type=int, default=None, help="HTTP: port (default: the server's own, from deployment/registry.py)."
)
@click.option(
    "--base-port", type=click.IntRange(1, 65535), default=None,
    help="HTTP: a loopback stack moved to BASE: the server at its registry distance from BASE, its issuer "
    "http://127.0.0.1:BASE (run `supplychain idp serve --base-port BASE`; as `supplychain demo --base-port`).",
)  # fmt: skip
@click.option("--read-only", is_flag=True, help="Honour only reading scopes, whatever the roles allow.")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True,
    help="HTTP: uvicorn worker processes sharing the port, sealing request state with one key. Each has its "
    "own pool, token cache and rate-limit counters (a tenant gets up to N x RATE_LIMIT: the gateway's limit is "
    "the one that holds); a 2025-11-25 session must stay on its worker's connection.",
)  # fmt: skip
def serve(
    server: str,
    transport: str,
    host: str | None,
    port: int | None,
    base_port: int | None,
    read_only: bool,
    workers: int,
) -> None:
    """Run one server (or `all` over HTTP). Over stdio the caller is SUPPLYCHAIN_TENANT / _USER / _ROLES."""
    from securemcp.audit.checkpoints import CheckpointSettings
    from securemcp.identity.issuers_file import sign_in_issuer, trusted_issuers_of
    from securemcp.identity.principal import IdentityError, local_identity_from_env
    from securemcp.observability.logs import configure_logging, server_log_level
    from securemcp.settings import SettingsError

    from supplychain.servers import load_settings, server_for

    if base_port is not None and port is not None:
        raise click.UsageError("give --port or --base-port, not both")
    if base_port is not None and transport == "stdio" and server != "all":
        raise click.UsageError("--base-port places HTTP servers: add --transport http")
    configure_logging(server_log_level())
    if server == "all":
        _serve_all(host=host, base_port=base_port, read_only=read_only)
        return
    overrides: dict[str, object] = {"read_only": True} if read_only else {}
    if transport == "http":
        overrides |= {key: value for key, value in (("host", host), ("port", port)) if value is not None}
        if base_port is not None:
            overrides |= {"port": port_from(server, base_port), "issuer_url": loopback_issuer(base_port)}
    try:
        settings = load_settings(server, **overrides)
        settings.resolved_database_url()  # fail now, not at the first call
        if transport == "stdio":
            identity = local_identity_from_env(settings.policy, read_only_mode=settings.read_only)
        else:
            settings.check_http_exposure()
            sign_in_issuer(settings, trusted_issuers_of(settings))  # the trusted-issuers file: read it now
        CheckpointSettings().check_transport(transport)  # audit checkpoint settings: fail now, not at shutdown
    except (IdentityError, SettingsError, ValueError) as exc:
        click.echo(f"supplychain serve {server}: refusing to start: {_one_line(exc)}", err=True)
        sys.exit(2)
    if transport == "stdio":
        server_for(settings, local_identity=identity).run("stdio")
    else:
        _serve_http(server, settings, workers=workers)


_WORKER_SERVER = "SUPPLYCHAIN_SERVE_WORKER_SERVER"


def _event_loop() -> str:
    """uvloop, named explicitly rather than left to "auto" (measured by `supplychain bench`; no Windows build)."""
    import importlib.util

    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def worker_app() -> object:
    """uvicorn's app factory for `serve --workers N`: each worker builds its app from the environment."""
    import os

    from securemcp.observability.logs import configure_logging, server_log_level

    from supplychain.servers import http_app, load_settings

    configure_logging(server_log_level())
    name = os.environ[_WORKER_SERVER]
    return http_app(name, load_settings(name))


def _serve_http(server: str, settings: ServerSettings, *, workers: int = 1) -> None:
    import os

    import uvicorn
    from securemcp.observability.logs import server_log_level

    from supplychain.servers import http_app

    click.echo(f"{server}: {settings.resource_url} (issuer {settings.issuer_url})", err=True)
    if workers == 1:
        app: object = http_app(server, settings)
    else:
        # Workers are fresh processes that read their settings from the environment: hand over the
        # command-line overrides there, and give uvicorn a factory instead of a built app.
        prefix = entry(server).env_prefix
        os.environ |= {_WORKER_SERVER: server, f"{prefix}HOST": settings.host}
        os.environ[f"{prefix}PORT"] = str(settings.listen_port)
        os.environ[f"{prefix}ISSUER_URL"] = settings.issuer_url  # `--base-port` moves it
        if settings.request_state_keys() is None:
            # One sealing key for all workers, so an approval asked by one worker is accepted by another.
            import secrets

            os.environ[f"{prefix}REQUEST_STATE_KEY"] = secrets.token_hex(32)
        if settings.read_only:
            os.environ["SUPPLYCHAIN_READ_ONLY"] = "true"
        app = "supplychain.cli:worker_app"
    uvicorn.run(
        app,  # type: ignore[arg-type]
        factory=workers > 1,
        workers=workers,
        loop=_event_loop(),
        http="httptools",  # the C parser (a runtime dependency) instead of h11
        host=settings.host,
        port=settings.listen_port,
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
        log_level=server_log_level().lower(),  # uvicorn's access line per request only at INFO
        log_config=None,  # uvicorn's loggers go through ours: JSON, request ids, redaction
        server_header=False,
        # X-Forwarded-* only from the gateway's address (phase 3); without one, from nobody.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
    )


def _serve_all(*, host: str | None, base_port: int | None, read_only: bool) -> None:
    """Each server in its own process, so each holds only its own credential."""
    import signal
    import subprocess

    extra = [*(["--host", host] if host else []), *(["--read-only"] if read_only else [])]
    extra += ["--base-port", str(base_port)] if base_port is not None else []
    children = [
        subprocess.Popen([sys.executable, "-m", "supplychain.cli", "serve", name, "--transport", "http", *extra])  # noqa: S603
        for name in SERVERS
    ]
    try:
        while all(child.poll() is None for child in children):
            signal.sigtimedwait([signal.SIGINT, signal.SIGTERM], 0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        codes = [child.wait(timeout=10) for child in children]
    sys.exit(max((code for code in codes if code and code > 0), default=0))


@main.command("dev-certs")
def dev_certs() -> None:
    """Make a local CA and a certificate for 127.0.0.1/localhost under $SUPPLYCHAIN_HOME/certs."""
    from supplychain.devcerts import write_dev_certificates

    paths = write_dev_certificates()
    for name, path in paths.items():
        click.echo(f"{name}: {path}")


@main.group()
def tools() -> None:
    """The reviewed snapshots of each server's tool list (tool poisoning and rug pulls)."""


@tools.command("snapshot")
@click.option("--server", "servers", type=click.Choice(SERVERS), multiple=True, help="Only this server (repeatable).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming each server whose tool list drifted.")
def tools_snapshot(servers: tuple[str, ...], check: bool) -> None:
    """Write tests/snapshots/<server>_tools.json from the live tool list, for review with `git diff`."""
    from supplychain.manifest import hidden_markers, live_tools, render, snapshot_path

    drifted: list[str] = []
    for server in servers or SERVERS:
        listed = asyncio.run(live_tools(server))
        poisoned = hidden_markers(listed)
        if poisoned:  # never pin a list that hides instructions, not even for review
            click.echo(f"{server}: hidden instruction markers: " + "; ".join(poisoned), err=True)
            sys.exit(1)
        path, current = snapshot_path(server), render(listed)
        if path.exists() and path.read_text(encoding="utf-8") == current:
            click.echo(f"{server}: matches {path}")
        elif check:
            drifted.append(server)
        else:
            path.write_text(current, encoding="utf-8")
            click.echo(f"{server}: wrote {path}; review it with `git diff` before committing")
    if drifted:
        click.echo(f"tool list drifted from the reviewed snapshot: {', '.join(drifted)}", err=True)
        sys.exit(1)


@main.group()
def approvals() -> None:
    """List approvals waiting for a person; deciding happens only on each server's approval page."""


@approvals.command("list")
@click.option("--server", "server", type=click.Choice(SERVERS), required=True, help="The server holding them.")
@click.option("--tenant", "tenant", default=None, help="Only this tenant's approvals (default: every tenant).")
def approvals_list(server: str, tenant: str | None) -> None:
    """List SERVER's pending approvals and the page URL where a signed-in person decides each.

    Reads with the admin credential, like `audit verify`; decides nothing.
    """
    from supplychain.approvals_cli import listing
    from supplychain.embedded import admin_url
    from supplychain.terminal import echo_lines

    echo_lines(asyncio.run(listing(admin_url(), server, tenant)))


@approvals.command("release")
@click.argument("approval_id")
@click.option("--server", "server", type=click.Choice(SERVERS), required=True, help="The server holding it.")
def approvals_release(approval_id: str, server: str) -> None:
    """Release the operator's hold on APPROVAL_ID (put by `incident`): it can then be decided on the page,
    where its requester's grant and roles are checked again. Writes one audit record."""
    from supplychain.admin import admin_engine
    from supplychain.embedded import admin_url
    from supplychain.held_approvals import release_hold
    from supplychain.terminal import echo_lines, printable

    async def run() -> str:
        engine = admin_engine(admin_url())
        try:
            return await release_hold(engine, server, approval_id)
        finally:
            await engine.dispose()

    try:
        line = asyncio.run(run())
    except LookupError as exc:
        raise click.ClickException(printable(_one_line(exc))) from None
    echo_lines([line])


@approvals.command("serve")
@click.argument("server", type=click.Choice(SERVERS))
@click.option("--port", type=int, default=None, help="Default: the server's own port (deployment/registry.py).")
def approvals_serve(server: str, port: int | None) -> None:
    """Phase 1: serve SERVER's approval pages on loopback (its own credential; sign-in at its issuer)."""
    from securemcp.approvals.pages.config import pages_base_url
    from securemcp.http.standalone_pages import serve_pages
    from securemcp.settings import SettingsError

    from supplychain.servers import approval_executors, load_settings

    try:
        settings = load_settings(server, **({"port": port} if port is not None else {}))
        settings.resolved_database_url()  # fail now, with the reason, rather than on the first page
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(_one_line(exc)) from None
    click.echo(f"{server} approval pages: {pages_base_url(settings)} (sign-in at {settings.issuer_url})", err=True)
    serve_pages(settings, approval_executors(settings))


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):  # name the setting and the rule, never echo the value
        return "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


from supplychain.gateway_cli import gateway  # noqa: E402 (phase 3 commands live in their own module)

main.add_command(gateway)

from supplychain.review_cli import audit_review, incident  # noqa: E402 (review and incident response)

audit.add_command(audit_review)
main.add_command(incident)

from supplychain.compose import deploy  # noqa: E402 (files written from the server registry)

main.add_command(deploy)

from supplychain.db_cli import db_reset, db_upgrade_squashed  # noqa: E402 (the database commands that rebuild)

db.add_command(db_reset)
db.add_command(db_upgrade_squashed)

from supplychain.scaffold.command import new_server  # noqa: E402 (its heavy imports load when it runs)

main.add_command(new_server)

# The dev tools bring their own commands (each imports its work when it runs). The production install has
# none of the tools: there each name is a stand-in that says to run it from a checkout.
from supplychain.dev_commands import register  # noqa: E402

register(main, "demo", "demo.cli:demo")
register(main, "claude-config", "demo.cli:claude_config")
register(main, "idp", "idp.cli:idp")
register(main, "bench", "bench.cli:bench")
register(main, "loadtest", "loadtest.cli:loadtest")

if __name__ == "__main__":
    main()
