"""The parts of compose.yaml that run code, run here for real: the secrets helper, the `db-init` job's
shell script, the health-check probe (against a real server with the generated certificate) and
`gateway render` with the gateway-render job's settings (checked by the real HAProxy 2.6).

Only the container paths are swapped for temporary folders (`/run/secrets/...`); everything else is
the text of compose.yaml and deploy/compose/make_secrets.py.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from sqlalchemy.engine import make_url

from deployment.registry import SERVERS
from idp.keys import KeyRing
from supplychain.admin import _existing_password, service_role
from supplychain.gateway import GatewayError, keys_from_jwks, render, render_config
from supplychain.gateway_settings import GatewaySettings
from tests.deploy.compose import REPO, resolved
from tests.http.stack import start_idp, start_server

SERVICES: dict[str, dict[str, Any]] = resolved()["services"]
SECRET_FILES = {name: Path(spec["file"]).name for name, spec in resolved()["secrets"].items()}
MAKE_SECRETS = REPO / "deploy" / "compose" / "make_secrets.py"
PUBLIC_HOST = "mcp.example.test"


def make_secrets(out: Path, public_host: str = PUBLIC_HOST) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(MAKE_SECRETS), "--public-host", public_host, "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("home") / "secrets"  # laid out as $SUPPLYCHAIN_HOME/secrets
    result = make_secrets(out)
    assert result.returncode == 0, result.stderr
    return out


def test_the_helper_writes_every_file_compose_reads_and_prints_no_secret(secrets_dir: Path) -> None:
    assert {path.name for path in secrets_dir.iterdir()} == set(SECRET_FILES.values())
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700  # private on the host
    for path in secrets_dir.iterdir():  # readable by the containers' users (bind mounts keep host modes)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    contents = {path.name: path.read_bytes() for path in secrets_dir.iterdir()}
    again = make_secrets(secrets_dir)
    assert again.returncode == 0
    assert sorted(again.stdout.splitlines()) == sorted(f"kept  {secrets_dir / name}" for name in SECRET_FILES.values())
    assert contents == {path.name: path.read_bytes() for path in secrets_dir.iterdir()}  # nothing rotated


def test_db_init_reuses_the_passwords_the_servers_are_given(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_HOME", str(secrets_dir.parent))
    postgres = SERVICES["postgres"]["environment"]
    for server in SERVERS:
        url = make_url((secrets_dir / f"{server}.dsn").read_text(encoding="utf-8").strip())
        assert (url.username, url.host, url.port, url.database) == (service_role(server), "postgres", 5432,
                                                                    postgres["POSTGRES_DB"])  # fmt: skip
        assert _existing_password(server) == url.password  # so `db init` gives the role this password
        assert len((secrets_dir / f"{server}.request_state_key").read_bytes()) >= 32


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "bad host"])
def test_the_helper_refuses_a_name_containers_cannot_share(host: str, tmp_path: Path) -> None:
    result = make_secrets(tmp_path / "secrets", host)
    assert result.returncode == 2 and "make_secrets:" in result.stderr
    assert not (tmp_path / "secrets").exists()


def test_the_db_init_script_hands_db_init_the_admin_url_and_every_dsn(secrets_dir: Path, tmp_path: Path) -> None:
    run_secrets = tmp_path / "run-secrets"  # what compose mounts at /run/secrets for db-init
    run_secrets.mkdir()
    for secret in SERVICES["db-init"]["secrets"]:
        (run_secrets / secret).write_bytes((secrets_dir / SECRET_FILES[secret]).read_bytes())
    entrypoint = SERVICES["db-init"]["entrypoint"]
    script = entrypoint[2].replace("/run/secrets/", f"{run_secrets}/")
    home = tmp_path / "home"
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "SUPPLYCHAIN_HOME": str(home)}
    result = subprocess.run([*entrypoint[:2], script, entrypoint[3], "url"], capture_output=True, text=True,
                            env=env, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    password = (secrets_dir / "postgres_admin_password").read_text(encoding="utf-8")
    assert result.stdout.strip() == f"postgresql://supplychain_admin:{password}@postgres:5432/supplychain"
    for server in SERVERS:
        assert (home / "secrets" / f"{server}.dsn").read_bytes() == (secrets_dir / f"{server}.dsn").read_bytes()
    assert stat.S_IMODE((home / "secrets").stat().st_mode) == 0o700


def test_the_db_seed_script_hands_db_seed_the_admin_url_and_nothing_else(secrets_dir: Path, tmp_path: Path) -> None:
    run_secrets = tmp_path / "run-secrets"  # what compose mounts at /run/secrets for db-seed
    run_secrets.mkdir()
    for secret in SERVICES["db-seed"]["secrets"]:
        (run_secrets / secret).write_bytes((secrets_dir / SECRET_FILES[secret]).read_bytes())
    entrypoint = SERVICES["db-seed"]["entrypoint"]
    script = entrypoint[2].replace("/run/secrets/", f"{run_secrets}/")
    home = tmp_path / "home"
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "SUPPLYCHAIN_HOME": str(home)}
    result = subprocess.run([*entrypoint[:2], script, entrypoint[3], "url"], capture_output=True, text=True,
                            env=env, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    password = (secrets_dir / "postgres_admin_password").read_text(encoding="utf-8")
    assert result.stdout.strip() == f"postgresql://supplychain_admin:{password}@postgres:5432/supplychain"
    assert not home.exists()  # no server's credential written: seeding needs none


async def probe(service: str, url: str, ca: Path | None = None) -> int:
    """Run `service`'s compose health check against `url` (and `ca`); its exit code."""
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    with anyio.fail_after(30):
        done = await anyio.run_process([sys.executable, "-c", test[3], url, *([str(ca)] if ca else [])], check=False)
    return done.returncode


@pytest.mark.slow
async def test_the_health_checks_pass_on_a_live_server_with_the_generated_certificate_and_fail_when_it_stops(
    secrets_dir: Path, server_urls: dict[str, str], tmp_path: Path
) -> None:
    inventory = SERVICES["inventory"]
    assert inventory["healthcheck"]["test"][4:] == ["https://127.0.0.1:8101/healthz", "/run/secrets/tls_ca"]
    idp = start_idp(tmp_path / "idp-keys", {"inventory": "https://127.0.0.1:1/mcp"})
    try:
        assert await probe("idp", f"http://127.0.0.1:{idp.served.port}/.well-known/oauth-authorization-server") == 0
        server = start_server(
            "inventory", idp.issuer, tls_certfile=secrets_dir / "server.pem", tls_keyfile=secrets_dir / "server-key.pem"
        )
        url = f"https://127.0.0.1:{server.served.port}/healthz"
        try:
            assert await probe("inventory", url, secrets_dir / "ca.pem") == 0  # TLS verified against the generated CA
            trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
            assert await probe("inventory", url, tmp_path / "other-ca.pem") != 0  # verified, not merely encrypted
        finally:
            server.served.stop()
        assert await probe("inventory", url, secrets_dir / "ca.pem") != 0
    finally:
        idp.served.stop()


@pytest.mark.slow
@pytest.mark.haproxy
def test_gateway_render_with_the_compose_settings_writes_a_config_haproxy_accepts(
    secrets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [key for key in os.environ if key.startswith("SUPPLYCHAIN_")]:
        monkeypatch.delenv(key)
    run_dir = SERVICES["gateway-render"]["environment"]["SUPPLYCHAIN_GATEWAY_RUN_DIR"]
    for key, value in SERVICES["gateway-render"]["environment"].items():
        for secret, file_name in SECRET_FILES.items():
            value = value.replace(f"/run/secrets/{secret}", str(secrets_dir / file_name))
        monkeypatch.setenv(key, value.replace(run_dir, str(tmp_path / "gateway")))
    keys = KeyRing(tmp_path / "idp-keys")
    keys.signing_key()
    settings = GatewaySettings()
    haproxy = shutil.which("haproxy")
    assert haproxy is not None  # the marker skips this test where it is missing
    with pytest.raises(GatewayError, match="haproxy refused"):  # its files are written; the check fails here:
        render(settings, keys.jwks())
    config = render_config(settings, keys_from_jwks(keys.jwks()))
    as_rendered = haproxy_check(haproxy, tmp_path / "gateway" / "as-rendered.cfg", config)
    # ... because the replicas' names do not resolve without Docker's DNS: that, and only that, is reported.
    alerts = [line for line in as_rendered.splitlines() if "[ALERT]" in line and "Failed to initialize" not in line]
    unresolved = {match[1] for line in alerts if (match := re.search(r"could not resolve address '([\w-]+)'", line))}
    assert len(unresolved) == len(alerts) == 2 * len(SERVERS), as_rendered
    assert unresolved == {f"{server}-{index}" for server in SERVERS for index in (1, 2)}
    # With each name standing for an address, the config (the TLS bundle of the generated certificate included)
    # is valid.
    addressed = re.sub(r"(server \S+) [a-z]+-[12]:(\d+)$", r"\1 127.0.0.1:\2", config, flags=re.M)
    assert haproxy_check(haproxy, tmp_path / "gateway" / "addressed.cfg", addressed) == ""
    assert f"bind {settings.bind} ssl crt {tmp_path / 'gateway' / 'tls.pem'}" in config


def haproxy_check(haproxy: str, path: Path, config: str) -> str:
    """`haproxy -c` on `config`: "" when valid, else what HAProxy said."""
    path.write_text(config, encoding="utf-8")
    checked = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    return "" if checked.returncode == 0 else checked.stderr + checked.stdout
