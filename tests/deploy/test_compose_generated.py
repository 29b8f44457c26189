"""compose.yaml is written from the server registry: the committed file is exactly what the command writes,
and a server added to the registry gets its services, secrets, volume and networks from it."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest
import yaml
from click.testing import CliRunner

from deployment.registry import REGISTRY, ServerEntry
from supplychain import compose
from supplychain.cli import main
from tests.deploy.compose import COMPOSE_FILE, EXAMPLE_VARIABLES, interpolate, network_names, secret_names


def test_the_committed_compose_file_is_what_the_command_writes(tmp_path: Path) -> None:
    written = tmp_path / "compose.yaml"
    result = CliRunner().invoke(main, ["deploy", "compose", "--output", str(written)])
    assert result.exit_code == 0, result.output
    assert written.read_text(encoding="utf-8") == COMPOSE_FILE.read_text(encoding="utf-8"), (
        "compose.yaml differs from what `supplychain deploy compose` writes: run it and commit the result"
    )


def test_check_fails_on_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    stale = tmp_path / "compose.yaml"
    stale.write_text(COMPOSE_FILE.read_text(encoding="utf-8").replace("8101", "8111"), encoding="utf-8")
    before = stale.read_text(encoding="utf-8")
    result = CliRunner().invoke(main, ["deploy", "compose", "--check", "--output", str(stale)])
    assert result.exit_code == 1
    assert "is out of date: run `supplychain deploy compose`" in result.output
    assert stale.read_text(encoding="utf-8") == before


@pytest.fixture
def with_procurement(monkeypatch: pytest.MonkeyPatch) -> ServerEntry:
    """The registry with a fifth server, as `supplychain new-server procurement` would add it."""
    procurement = ServerEntry("procurement", port=8105, segment=5, capabilities=("procurement:order",))
    monkeypatch.setattr(compose, "REGISTRY", MappingProxyType({**REGISTRY, procurement.name: procurement}))
    return procurement


def test_a_registered_server_gets_every_part_of_the_topology(with_procurement: ServerEntry) -> None:
    document = interpolate(yaml.safe_load(compose.render_compose()), EXAMPLE_VARIABLES)
    services = document["services"]
    phase2 = services["procurement"]
    assert phase2["command"] == ["serve", "procurement", "--transport", "http"]
    assert phase2["ports"] == ["127.0.0.1:8105:8105"]
    assert network_names(phase2) == ["procurement-edge", "procurement-idp", "procurement-data"]
    assert secret_names(phase2) == ["procurement_dsn", "tls_certificate", "tls_key", "tls_ca"]
    for replica in ("procurement-1", "procurement-2"):
        spec = services[replica]
        assert spec["environment"]["SUPPLYCHAIN_PROCUREMENT_FORWARDED_ALLOW_IPS"] == "172.28.5.10"
        assert network_names(spec) == ["procurement-gw", "procurement-idp", "procurement-data"]
        assert "ports" not in spec  # only the gateway publishes a server in phase 3
        assert services["gateway"]["depends_on"][replica] == {"condition": "service_healthy"}
    assert services["gateway"]["networks"]["procurement-gw"] == {"ipv4_address": "172.28.5.10"}
    assert "procurement-data" in network_names(services["postgres"])
    assert "procurement_dsn" in secret_names(services["db-init"])
    assert "procurement" in services["db-init"]["entrypoint"][2].split("for server in ")[1].split(";")[0]
    assert document["networks"]["procurement-gw"]["ipam"]["config"] == [
        {"subnet": "172.28.5.0/24", "ip_range": "172.28.5.128/25"}
    ]
    assert {"procurement-data", "procurement-idp", "procurement-edge"} <= set(document["networks"])
    assert "procurement-audit" in document["volumes"]
    assert document["secrets"]["procurement_request_state_key"]["file"].endswith("/procurement.request_state_key")
    resources = yaml.safe_load(services["idp"]["environment"]["SUPPLYCHAIN_IDP_RESOURCES"])
    assert resources["procurement"] == "https://mcp.example.test:8105/mcp"
