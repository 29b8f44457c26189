"""Every variable compose.yaml sets is one the code reads, with a value the real settings classes accept.

Each service's environment is applied (and nothing else under SUPPLYCHAIN_), then the settings class
its command uses is built from it, exactly as in the container. The URLs the services derive must
agree: each server's audience is the resource the authorization server puts in its tokens, and in
phase 3 the gateway's route for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from authlib.common.security import is_secure_transport
from securemcp.settings import DeploymentSettings, ServerSettings, home_dir

from deployment.registry import REGISTRY, SERVERS
from idp.settings import IdpSettings
from supplychain.gateway_settings import GatewaySettings
from supplychain.servers import load_settings, server_module
from tests.deploy.compose import PROFILES, resolved, served, services

COMPOSE = resolved()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
IDP = {"http": "idp", "gateway": "idp-for-gateway"}
# Read by the images themselves, not by our settings: the official Postgres image, and authlib.
FOREIGN = {"postgres": {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD_FILE"},
           "idp": {"AUTHLIB_INSECURE_TRANSPORT"}, "idp-for-gateway": {"AUTHLIB_INSECURE_TRANSPORT"}}  # fmt: skip


def _fields(settings_class: type[Any], prefix: str) -> set[str]:
    return {f"{prefix}{name}".upper() for name in settings_class.model_fields if name != "allowed_tools"}


def known_variables() -> set[str]:
    """Every SUPPLYCHAIN_* variable some settings class (or `home_dir`) reads."""
    known = {"SUPPLYCHAIN_HOME"} | _fields(DeploymentSettings, "SUPPLYCHAIN_")
    for settings_class in (IdpSettings, GatewaySettings, *(
        getattr(server_module(server), REGISTRY[server].settings_class_name) for server in SERVERS
    )):  # fmt: skip
        known |= _fields(settings_class, str(settings_class.model_config["env_prefix"]))
    return known


def environment_of(name: str) -> dict[str, str]:
    return {key: str(value) for key, value in (SERVICES[name].get("environment") or {}).items()}


@pytest.fixture
def container_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Apply one service's environment, and nothing else under SUPPLYCHAIN_."""

    def apply(name: str) -> dict[str, str]:
        for key in list(os.environ):
            if key.startswith("SUPPLYCHAIN_"):
                monkeypatch.delenv(key)
        environment = environment_of(name)
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        return environment

    return apply


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_variable_is_read_by_the_code(name: str) -> None:
    environment = environment_of(name)
    ours = {key for key in environment if key.startswith("SUPPLYCHAIN_")}
    assert ours <= known_variables(), sorted(ours - known_variables())
    assert set(environment) - ours == FOREIGN.get(name, set())


def test_supplychain_home_and_authlib_insecure_transport_are_really_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_HOME", "/var/lib/supplychain")
    assert home_dir() == Path("/var/lib/supplychain")
    token_endpoint = f"{environment_of('idp')['SUPPLYCHAIN_IDP_ISSUER']}/token"
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    assert not is_secure_transport(token_endpoint)  # why the dev IdP needs it on PUBLIC_HOST
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    assert is_secure_transport(token_endpoint)


def _server_settings(profile: str, container_env: Any) -> dict[str, list[ServerSettings]]:
    built: dict[str, list[ServerSettings]] = {}
    for name, spec in services(COMPOSE, profile).items():
        if served(spec):
            container_env(name)
            built.setdefault(served(spec) or "", []).append(load_settings(served(spec) or ""))
    return built


@pytest.mark.parametrize("profile", PROFILES)
def test_servers_accept_their_settings_and_listen_as_check_http_exposure_allows(
    profile: str, container_env: Any
) -> None:
    container_env(IDP[profile])
    idp = IdpSettings()
    for server, replicas in _server_settings(profile, container_env).items():
        for settings in replicas:
            settings.check_http_exposure()  # 0.0.0.0 is refused without TLS or a gateway in front
            assert settings.host == "0.0.0.0"  # noqa: S104
            assert settings.tls is (profile == "http") and settings.behind_gateway is (profile == "gateway")
            assert settings.issuer_url == idp.issuer  # byte-equal to the tokens' `iss`
            assert settings.resource_url == idp.resources[server]  # the tokens' audience
            assert settings.listen_port == REGISTRY[server].port
            assert (settings.request_state_key_file is not None) is (profile == "gateway")


def test_the_gateway_routes_each_server_to_its_replicas_under_the_tokens_audience(container_env: Any) -> None:
    replicas = {
        server: [(name, str(SERVICES[name]["environment"][f"SUPPLYCHAIN_{server.upper()}_PORT"])) for name in names]
        for server, names in _replica_names().items()
    }
    audiences = {
        server: settings[0].resource_url for server, settings in _server_settings("gateway", container_env).items()
    }
    container_env("idp-for-gateway")
    issuer = IdpSettings().issuer
    container_env("gateway-render")
    gateway = GatewaySettings()
    assert gateway.issuer_url == issuer
    assert gateway.bind == "0.0.0.0:8443" and SERVICES["gateway"]["ports"] == ["127.0.0.1:8443:8443"]
    assert str(gateway.folder) == SERVICES["gateway-render"]["environment"]["SUPPLYCHAIN_GATEWAY_RUN_DIR"]
    for server in SERVERS:
        assert gateway.mcp_url(server) == audiences[server]
        assert gateway.backend_addresses(server) == [f"{name}:{port}" for name, port in replicas[server]]


def _replica_names() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for name, spec in sorted(services(COMPOSE, "gateway").items()):
        if served(spec):
            names.setdefault(served(spec) or "", []).append(name)
    return names
