"""The `supplychain` command: database, servers, demo and client configs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from pydantic import ValidationError
from securemcp.settings import ServerSettings

from deployment.registry import GATEWAY_PORT, IDP_PORT, SERVERS, entry


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
    """Replace the fixture tenants' data with the deterministic fixtures."""
    from supplychain.admin import AdminError, seed_database
    from supplychain.embedded import admin_url

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
@click.option("--read-only", is_flag=True, help="Honour only reading scopes, whatever the roles allow.")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True,
    help="HTTP: uvicorn worker processes sharing the port, sealing request state with one key. Each has its "
    "own pool, token cache and rate-limit counters; a 2025-11-25 session must stay on its worker's connection.",
)  # fmt: skip
def serve(server: str, transport: str, host: str | None, port: int | None, read_only: bool, workers: int) -> None:
    """Run one server (or `all` over HTTP). Over stdio the caller is SUPPLYCHAIN_TENANT / _USER / _ROLES."""
    from securemcp.audit.checkpoints import CheckpointSettings
    from securemcp.identity.principal import IdentityError, local_identity_from_env
    from securemcp.observability.logs import configure_logging, server_log_level
    from securemcp.settings import SettingsError

    from supplychain.servers import load_settings, server_module

    configure_logging(server_log_level())
    if server == "all":
        _serve_all(host=host, read_only=read_only)
        return
    overrides: dict[str, object] = {"read_only": True} if read_only else {}
    if transport == "http":
        overrides |= {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    try:
        settings = load_settings(server, **overrides)
        settings.resolved_database_url()  # fail now, not at the first call
        if transport == "stdio":
            identity = local_identity_from_env(settings.policy, read_only_mode=settings.read_only)
        else:
            settings.check_http_exposure()
        CheckpointSettings().check_transport(transport)  # audit checkpoint settings: fail now, not at shutdown
    except (IdentityError, SettingsError, ValueError) as exc:
        click.echo(f"supplychain serve {server}: refusing to start: {_one_line(exc)}", err=True)
        sys.exit(2)
    if transport == "stdio":
        server_module(server).build_server(settings, local_identity=identity).run("stdio")
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


def _serve_all(*, host: str | None, read_only: bool) -> None:
    """Each server in its own process, so each holds only its own credential."""
    import signal
    import subprocess

    extra = [*(["--host", host] if host else []), *(["--read-only"] if read_only else [])]
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


@main.command()
@click.option("--yes", "assume_yes", is_flag=True, help="Approve every side effect without asking.")
@click.option("--reset", is_flag=True, help="Restore the fixture data before the run.")
@click.option("--transport", type=click.Choice(["http", "stdio", "gateway"]), default="http", show_default=True,
              help="http: phase 2 with OAuth (the default); stdio: phase 1 subprocesses; "
                   "gateway: phase 3, the OAuth run through HAProxy on 127.0.0.1 (needs haproxy).")  # fmt: skip
@click.option("--base-port", type=int, default=IDP_PORT, show_default=True,
              help="HTTP: authorization server port; each server keeps its registry distance from it.")  # fmt: skip
@click.option("--gateway-port", type=int, default=GATEWAY_PORT, show_default=True, help="gateway: HAProxy's port.")
def demo(assume_yes: bool, reset: bool, transport: str, base_port: int, gateway_port: int) -> None:
    """The main job: embedded Postgres, every registered server, and a scripted agent run."""
    from securemcp.observability.logs import configure_logging

    from demo.agent import DemoFailed, run_http, run_stdio
    from demo.browser import BrowserFailed
    from demo.four_eyes import FourEyesFailed
    from demo.stack import StartFailed
    from supplychain.admin import database_is_seeded, init_database, seed_database
    from supplychain.embedded import admin_url
    from supplychain.gateway import GatewayError

    configure_logging()
    click.echo("Preparing the database (embedded Postgres unless SUPPLYCHAIN_ADMIN_DATABASE_URL is set) ...")
    url = admin_url()
    asyncio.run(init_database(url))
    if reset or not asyncio.run(database_is_seeded(url)):
        asyncio.run(seed_database(url))
        click.echo("Loaded the fixture tenants acme and globex.")
    run = (
        run_stdio(assume_yes=assume_yes)
        if transport == "stdio"
        else run_http(
            assume_yes=assume_yes, base_port=base_port, via_gateway=transport == "gateway", gateway_port=gateway_port
        )
    )
    try:
        asyncio.run(run)
    # Failures may arrive grouped by task groups.
    except* (DemoFailed, BrowserFailed, FourEyesFailed, StartFailed, GatewayError) as failures:
        click.secho(f"demo failed: {_innermost(failures)}", fg="red", err=True)
        sys.exit(1)


@main.command("claude-config")
@click.option("--phase", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option(
    "--user", default="alice@acme", show_default=True, help="stdio: a fixture user, or any with --tenant/--roles."
)
@click.option("--tenant", default=None, help="stdio: tenant id (defaults to the fixture user's).")
@click.option("--roles", default=None, help="stdio: comma-separated roles (default: the fixture user's).")
@click.option("--allow-writes", is_flag=True, help="stdio: omit --read-only (side effects still need approval).")
def claude_config(phase: str, user: str, tenant: str | None, roles: str | None, allow_writes: bool) -> None:
    """Print a Claude Desktop config for every registered server (stdio subprocesses, or remote over HTTP)."""
    import json
    from pathlib import Path

    from securemcp.identity.principal import IdentityError, identity_from_roles
    from securemcp.settings import home_dir

    from demo.claude_config import http_config, stdio_config
    from deployment.policy import POLICY
    from fixtures.tenants import USERS
    from supplychain.servers import load_settings

    if phase == "http":
        urls = {server: load_settings(server).resource_url for server in SERVERS}
        click.echo(json.dumps(http_config(server_urls=urls), indent=2))
        hint = "Start `supplychain idp serve` and `supplychain serve all` first; Claude Desktop's custom connectors"
        click.echo(f"{hint} (Settings > Connectors) also take these URLs directly.", err=True)
        return
    role_tuple = tuple(r.strip() for r in roles.split(",")) if roles else None
    if user not in USERS and (tenant is None or role_tuple is None):
        raise click.ClickException(f"{user!r} is not a fixture user: pass --tenant and --roles")
    try:  # validate now, so a bad config is caught here rather than when Claude starts the server
        fixture_tenant, fixture_roles = USERS.get(user, ("", ()))
        identity_from_roles(
            policy=POLICY,
            tenant_id=tenant or fixture_tenant,
            user_id=user,
            roles=frozenset(role_tuple or fixture_roles),
        )
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    repo = Path(__file__).resolve().parent.parent
    config = stdio_config(
        repo=repo, home=home_dir(), user=user, tenant=tenant, roles=role_tuple, read_only=not allow_writes
    )
    click.echo(json.dumps(config, indent=2))


@main.group()
def idp() -> None:
    """The dev authorization server (development, tests and demos only)."""


@idp.command("serve")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; loopback only).")
@click.option("--port", type=int, default=None, help="Port (default 8100).")
def idp_serve(host: str | None, port: int | None) -> None:
    """Run the dev authorization server (issuer http://127.0.0.1:8100 by default)."""
    from securemcp.settings import SettingsError

    from idp.app import serve as serve_idp
    from idp.settings import IdpSettings

    overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
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
def idp_token(user: str, server_name: str, scope: str | None) -> None:
    """DEV ONLY: print an access token signed with the on-disk key (the dev server need not run)."""
    from idp.tokens import mint_access_token, parse_scope

    try:
        click.echo(mint_access_token(user=user, server=server_name, scopes=parse_scope(scope)))
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

    click.echo(asyncio.run(listing(admin_url(), server, tenant)))


@approvals.command("serve")
@click.argument("server", type=click.Choice(SERVERS))
@click.option("--port", type=int, default=None, help="Default: the server's own port (deployment/registry.py).")
def approvals_serve(server: str, port: int | None) -> None:
    """Phase 1: serve SERVER's approval pages on loopback (its own credential; sign-in at its issuer)."""
    from securemcp.approvals.pages.config import pages_base_url
    from securemcp.http.standalone_pages import serve_pages
    from securemcp.settings import SettingsError

    from supplychain.servers import load_settings, server_module

    try:
        settings = load_settings(server, **({"port": port} if port is not None else {}))
        settings.resolved_database_url()  # fail now, with the reason, rather than on the first page
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(_one_line(exc)) from None
    click.echo(f"{server} approval pages: {pages_base_url(settings)} (sign-in at {settings.issuer_url})", err=True)
    serve_pages(settings, server_module(server).tools.APPROVABLE)


def _add_bench() -> None:
    """`supplychain bench` lives in bench/ (its heavy imports load only when it runs)."""
    from bench.cli import bench

    main.add_command(bench)


_add_bench()


def _add_loadtest() -> None:
    """`supplychain loadtest` lives in loadtest/ (docs/reliability.md)."""
    from loadtest.cli import loadtest

    main.add_command(loadtest)


_add_loadtest()


def _innermost(group: BaseExceptionGroup[Exception]) -> BaseException:
    """The first real exception inside (possibly nested) exception groups."""
    first: BaseException = group.exceptions[0]
    return _innermost(first) if isinstance(first, BaseExceptionGroup) else first


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):  # name the setting and the rule, never echo the value
        return "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


from supplychain.gateway_cli import gateway  # noqa: E402 (phase 3 commands live in their own module)

main.add_command(gateway)

from supplychain.review_cli import audit_review, incident  # noqa: E402 (review and response, issue 13)

audit.add_command(audit_review)
main.add_command(incident)

from supplychain.compose import deploy  # noqa: E402 (files written from the server registry)

main.add_command(deploy)

from supplychain.db_cli import db_reset, db_upgrade_squashed  # noqa: E402 (the database commands that rebuild)

db.add_command(db_reset)
db.add_command(db_upgrade_squashed)

from supplychain.scaffold.command import new_server  # noqa: E402 (its heavy imports load when it runs)

main.add_command(new_server)

if __name__ == "__main__":
    main()
