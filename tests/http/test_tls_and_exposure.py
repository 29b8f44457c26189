"""TLS with `supplychain dev-certs`, and the refusal to serve plain HTTP on a non-loopback address."""

from __future__ import annotations

import os
import ssl
import stat
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from click.testing import CliRunner
from securemcp.settings import SettingsError

from supplychain.cli import main
from supplychain.servers import http_app, load_settings
from tests.http.clients import mcp_client
from tests.http.conftest import ExtraServer
from tests.http.stack import Stack
from tests.http.tokens import mint


def dev_certs(home: Path) -> dict[str, Path]:
    """Run `supplychain dev-certs` with `home` as SUPPLYCHAIN_HOME; the paths it printed."""
    result = CliRunner().invoke(main, ["dev-certs"], env={"SUPPLYCHAIN_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return {name: Path(path) for name, path in (line.split(": ", 1) for line in result.output.splitlines())}


async def test_a_server_with_dev_certificates_answers_over_https(
    stack: Stack, extra_server: ExtraServer, tmp_path: Path
) -> None:
    paths = dev_certs(tmp_path)
    assert set(paths) == {"ca", "certificate", "key"}
    assert all(path.parent == tmp_path / "certs" for path in paths.values())
    assert stat.S_IMODE(os.stat(paths["key"]).st_mode) == 0o600
    trust = ssl.create_default_context(cafile=str(paths["ca"]))

    with extra_server("inventory", tls_certfile=paths["certificate"], tls_keyfile=paths["key"]) as inventory:
        assert inventory.url.startswith("https://127.0.0.1:")
        token = mint(stack.idp, user="alice@acme", server="inventory", audience=inventory.url)
        async with httpx2.AsyncClient(verify=trust, timeout=10) as http:
            metadata = (await http.get(inventory.metadata_url)).json()
        async with mcp_client(inventory.url, token, verify=trust) as client:
            tools = (await client.list_tools()).tools
        # Without the dev CA the certificate is not trusted; plain HTTP is not spoken on that port.
        async with httpx2.AsyncClient(timeout=5) as untrusting:
            with pytest.raises(httpx2.ConnectError):
                await untrusting.get(inventory.metadata_url)
            with pytest.raises(httpx2.HTTPError):
                await untrusting.get(inventory.metadata_url.replace("https://", "http://"))
    assert metadata["resource"] == inventory.url
    assert {tool.name for tool in tools} >= {"create_reorder", "list_warehouses"}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])  # noqa: S104
def test_plain_http_on_a_non_loopback_address_is_refused(host: str, tmp_path: Path) -> None:
    settings = load_settings("inventory", host=host)
    with pytest.raises(SettingsError, match=f"refusing plain HTTP on {host}"):
        settings.check_http_exposure()
    with pytest.raises(SettingsError):
        http_app("inventory", settings)  # the app refuses to be built, whoever builds it
    load_settings("inventory", host=host, behind_gateway=True).check_http_exposure()
    cert, key = tmp_path / "server.pem", tmp_path / "server-key.pem"
    load_settings("inventory", host=host, tls_certfile=cert, tls_keyfile=key).check_http_exposure()


def test_half_a_tls_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="set both TLS_CERTFILE and TLS_KEYFILE"):
        load_settings("inventory", tls_certfile=tmp_path / "server.pem").check_http_exposure()


@pytest.mark.usefixtures("server_urls")
async def test_the_cli_refuses_to_serve_plain_http_on_all_interfaces() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_INVENTORY_")}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "supplychain.cli", "serve", "inventory", "--transport", "http", "--host", "0.0.0.0"],  # noqa: S104
            env=env,
            check=False,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 2
    assert stderr.count("\n") == 1
    assert stderr.startswith("supplychain serve inventory: refusing to start: refusing plain HTTP on 0.0.0.0:")
    assert "supplychain dev-certs" in stderr and "BEHIND_GATEWAY" in stderr
