"""`supplychain gateway render` and the gateway-mode settings of the servers (segmentation, shared keys)."""

from __future__ import annotations

import re
import socket
import stat
from pathlib import Path

import anyio
import httpx2
import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from securemcp.settings import SettingsError

from deployment.registry import SERVERS, replica_address
from idp.keys import KeyRing
from supplychain.cli import main
from supplychain.gateway import GatewayError, keys_from_jwks, render
from supplychain.gateway_settings import GatewaySettings
from supplychain.gateway_up import replica_environment
from supplychain.servers import load_settings
from tests.gateway.conftest import Edge


def test_keys_from_jwks_pin_each_keys_algorithm_and_skip_what_cannot_sign(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.signing_key()
    published = ring.jwks()["keys"][0]
    jwks = {
        "keys": [
            published,
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},  # symmetric: never at the edge
            {**published, "kid": 'evil" if true'},  # would break out of the config line
            {**published, "kid": "encryption", "use": "enc"},
            {key: value for key, value in published.items() if key != "kid"},  # no kid: no rule can name it
        ]
    }
    (key,) = keys_from_jwks(jwks)
    assert (key.kid, key.alg) == (published["kid"], "RS256")
    public = serialization.load_pem_public_key(key.pem)
    token = jwt.encode({"sub": "x"}, ring.signing_key().private_key, algorithm="RS256")
    assert jwt.decode(token, public, algorithms=["RS256"]) == {"sub": "x"}  # type: ignore[arg-type]


def test_render_writes_the_run_folder_and_refuses_a_jwks_without_keys(tmp_path: Path, supplychain_home: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.signing_key()
    settings = GatewaySettings(
        run_dir=tmp_path / "run", allowed_origins=["https://app.example.test"], tenant_limits={"acme": 50}
    )
    config = render(settings, ring.jwks()).read_text()
    folder = tmp_path / "run"
    kid = ring.signing_key().kid
    assert f'jwt_verify("RS256","{folder}/keys/{kid}.pem") if {{ var(txn.kid) -m str {kid} }}' in config
    for server in SERVERS:  # each server's two replicas, at its registry addresses
        assert f"    server {server}-1 {replica_address(server, 0)}\n" in config
        assert f"    server {server}-2 {replica_address(server, 1)}\n" in config
    assert (folder / "tenant-limits.map").read_text() == "acme 50\n"
    # the gateway's own origin too: the approval pages' forms post back to it
    assert (folder / "origins.lst").read_text() == f"https://app.example.test\n{settings.public_url}\n"
    assert (folder / "pages-routes.map").read_text() == "".join(
        f"^/{server}/approvals(/.*)?$ {server}\n" for server in SERVERS
    )
    assert stat.S_IMODE((folder / "tls.pem").stat().st_mode) == 0o600
    assert not re.search(r"\$\{\w+\}", config)  # every placeholder filled
    with pytest.raises(GatewayError, match="no RS256/ES256 signing key"):
        render(settings, {"keys": []})


def test_gateway_settings_refuse_what_could_break_the_config() -> None:
    for bad in ({"tenant_limits": {"acme corp": 5}}, {"backends": {"inventory": ["127.0.0.11:8101 backup"]}},
                {"allowed_origins": ["https://a.example/path"]}, {"public_url": "http://127.0.0.1:8443"}):  # fmt: skip
        with pytest.raises(ValueError):
            GatewaySettings(**bad)  # type: ignore[arg-type]


def test_render_shares_the_tenant_table_with_the_peers_over_mutual_tls(tmp_path: Path, supplychain_home: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.signing_key()
    peers = {"gw1": "10.0.0.1:10000", "gw2": "10.0.0.2:10000"}
    settings = GatewaySettings(run_dir=tmp_path / "run", peers=peers, local_peer="gw2")
    config = render(settings, ring.jwks()).read_text()
    folder = tmp_path / "run"
    tls = f"ssl crt {folder}/peers.pem ca-file {folder}/peers-ca.pem verify required"
    assert "\n    localpeer gw2\n" in config
    assert f"peers gateways\n    bind 10.0.0.2:10000 {tls}\n    default-server {tls}\n" in config
    assert "    server gw1 10.0.0.1:10000\n    server gw2\n" in config  # the local one by its bind line
    assert "store http_req_rate(10s) peers gateways\n" in config
    assert stat.S_IMODE((folder / "peers.pem").stat().st_mode) == 0o600
    alone = render(GatewaySettings(run_dir=tmp_path / "alone"), ring.jwks()).read_text()
    assert "\npeers gateways\n" not in alone and "localpeer" not in alone
    assert "store http_req_rate(10s)\n" in alone


def test_peers_settings_refuse_an_unknown_local_peer_and_the_public_ca(tmp_path: Path) -> None:
    peers = {"gw1": "10.0.0.1:10000", "gw2": "10.0.0.2:10000"}
    with pytest.raises(ValueError, match="local_peer 'gw3' must be one of the peers"):
        GatewaySettings(peers=peers, local_peer="gw3")
    with pytest.raises(ValueError, match="local_peer None must be one of the peers"):
        GatewaySettings(peers=peers)
    with pytest.raises(ValueError, match="peers are name -> host:port"):
        GatewaySettings(peers={"gw 1": "10.0.0.1:10000"}, local_peer="gw 1")
    with pytest.raises(ValueError, match="set all of PEERS_CA_FILE, PEERS_CERTFILE and PEERS_KEYFILE, or none"):
        GatewaySettings(peers=peers, local_peer="gw1", peers_ca_file=tmp_path / "ca.pem")
    public_tls = {"tls_certfile": tmp_path / "public.pem", "tls_keyfile": tmp_path / "public-key.pem"}
    with pytest.raises(ValueError, match="peers need their own CA"):
        GatewaySettings(peers=peers, local_peer="gw1", **public_tls)  # type: ignore[arg-type]


@pytest.mark.haproxy
async def test_cli_render_reads_the_issuers_jwks(edge: Edge, tmp_path: Path) -> None:
    args = ["gateway", "render", "--issuer", edge.idp.issuer, "--run-dir", str(tmp_path / "run")]
    result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, args))
    assert result.exit_code == 0, result.output
    published = {key["kid"] for key in edge.idp.keys.jwks()["keys"]}
    assert {path.stem for path in (tmp_path / "run" / "keys").glob("*.pem")} == published


def test_replica_environment_is_gateway_mode(tmp_path: Path, supplychain_home: Path) -> None:
    settings = GatewaySettings(public_url="https://mcp.example.test", run_dir=tmp_path)
    env = replica_environment(settings, "inventory")
    assert env["SUPPLYCHAIN_INVENTORY_PUBLIC_URL"] == "https://mcp.example.test/inventory/mcp"
    assert env["SUPPLYCHAIN_INVENTORY_BEHIND_GATEWAY"] == "true"
    assert env["SUPPLYCHAIN_INVENTORY_FORWARDED_ALLOW_IPS"] == "127.0.0.1"  # the gateway's address, only
    key_file = Path(env["SUPPLYCHAIN_INVENTORY_REQUEST_STATE_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert replica_environment(settings, "inventory")["SUPPLYCHAIN_INVENTORY_REQUEST_STATE_KEY_FILE"] == str(key_file)
    assert replica_environment(settings, "payments")["SUPPLYCHAIN_PAYMENTS_REQUEST_STATE_KEY_FILE"] != str(key_file)
    wildcard = GatewaySettings(bind="0.0.0.0:8443", run_dir=tmp_path)
    assert "SUPPLYCHAIN_INVENTORY_FORWARDED_ALLOW_IPS" not in replica_environment(wildcard, "inventory")


def test_a_short_request_state_key_stops_the_server(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_text("too-short")
    with pytest.raises(SettingsError, match="at least 32 bytes"):
        load_settings("inventory", request_state_key_file=short).request_state_keys()


@pytest.mark.haproxy
async def test_replicas_listen_only_on_their_own_loopback_address(edge: Edge) -> None:
    for replicas in edge.gateway.replicas.values():
        for replica in replicas:
            host, port = replica.address.rsplit(":", 1)
            assert host != "127.0.0.1"
            socket.create_connection((host, int(port)), timeout=2).close()
            health = httpx2.get(f"http://{replica.address}/healthz", timeout=5)
            assert (health.status_code, health.text) == (200, "ok")  # liveness, and nothing else
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", int(port)), timeout=2)
