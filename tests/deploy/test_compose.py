"""compose.yaml, checked property by property (no Docker engine here: the file is parsed, not run).

Phase 2 is the `http` profile, phase 3 the `gateway` profile. The settings checks build the real
settings classes from each service's environment, so a variable the code does not read, or a value
it would refuse, fails here instead of at `docker compose up`.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import pytest

from deployment.registry import REGISTRY, SERVERS
from tests.deploy.compose import (
    PROFILES,
    network_names,
    published_ports,
    raw,
    resolved,
    secret_names,
    served,
    services,
    variables,
)

COMPOSE = resolved()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
NETWORKS: dict[str, dict[str, Any]] = COMPOSE["networks"]
IDP = {"http": "idp", "gateway": "idp-for-gateway"}
ONE_SHOT = {"db-init", "gateway-render", "db-seed"}
ON_DEMAND = {"db-seed": ["seed"]}  # runs only when named (`run --rm db-seed`), in either phase
DEV_IMAGE = {"idp", "idp-for-gateway", "db-seed"}  # the dev authorization server and the fixtures
REQUIRED = {"PUBLIC_HOST", "SECRETS_DIR"}


def members(network: str, profile: str) -> set[str]:
    return {name for name, spec in services(COMPOSE, profile).items() if network in network_names(spec)}


def server_services(profile: str) -> dict[str, list[str]]:
    """server name -> the services running it in this phase (one in phase 2, the replicas in phase 3)."""
    running: dict[str, list[str]] = {}
    for name, spec in services(COMPOSE, profile).items():
        if served(spec):
            running.setdefault(served(spec) or "", []).append(name)
    return running


def test_required_variables_stop_compose_with_a_message() -> None:
    references = variables(raw())
    assert {reference.name for reference in references} == REQUIRED | {"PUBLISH_ADDRESS"}
    for reference in references:
        if reference.name in REQUIRED:  # every use, so no value is ever silently empty
            assert reference.op == ":?" and reference.arg and "set " in reference.arg, reference
        else:  # the one optional variable: published ports stay on loopback unless asked
            assert (reference.op, reference.arg) == (":-", "127.0.0.1"), reference


def test_the_profiles_are_the_phases() -> None:
    phases = {name: spec for name, spec in SERVICES.items() if name not in ON_DEMAND}
    assert all(set(spec.get("profiles", [])) and set(spec["profiles"]) <= set(PROFILES) for spec in phases.values())
    assert {name: SERVICES[name]["profiles"] for name in ON_DEMAND} == ON_DEMAND
    assert set(services(COMPOSE, "http")) == {"postgres", "db-init", "idp", *SERVERS}
    replicas = {f"{server}-{index}" for server in SERVERS for index in (1, 2)}
    assert set(services(COMPOSE, "gateway")) == {"postgres", "db-init", "idp-for-gateway", "gateway-render",
                                                 "gateway", *replicas}  # fmt: skip
    assert {server: len(names) for server, names in server_services("gateway").items()} == dict.fromkeys(SERVERS, 2)


def test_in_phase_3_only_the_gateway_publishes_a_server() -> None:
    published = {name: published_ports(spec) for name, spec in services(COMPOSE, "gateway").items()}
    # The dev authorization server stands in for the company IdP, which clients reach directly.
    assert {name: ports for name, ports in published.items() if ports} == {
        "gateway": ["127.0.0.1:8443:8443"],
        "idp-for-gateway": ["127.0.0.1:8100:8100"],
    }
    phase2 = {name: published_ports(spec) for name, spec in services(COMPOSE, "http").items()}
    assert {name: ports for name, ports in phase2.items() if ports} == {
        "idp": ["127.0.0.1:8100:8100"],
        **{name: [f"127.0.0.1:{server.port}:{server.port}"] for name, server in REGISTRY.items()},
    }
    assert not any("expose" in spec or spec.get("network_mode") for spec in SERVICES.values())


def test_postgres_is_never_published_and_lives_on_internal_networks_only() -> None:
    postgres = SERVICES["postgres"]
    assert "ports" not in postgres
    assert set(network_names(postgres)) == {"admin-data", *(f"{server}-data" for server in SERVERS)}
    assert all(NETWORKS[network].get("internal") is True for network in network_names(postgres))
    assert members("admin-data", "http") == members("admin-data", "gateway") == {"postgres", "db-init"}


@pytest.mark.parametrize("profile", PROFILES)
def test_each_server_shares_a_network_only_with_the_edge_the_database_and_the_idp(profile: str) -> None:
    edge = {"http": set(), "gateway": {"gateway"}}[profile]
    for server, own in server_services(profile).items():
        for network in network_names(SERVICES[own[0]]):
            others = members(network, profile) - set(own)
            assert others <= {"postgres", IDP[profile], *edge}, (server, network, others)
            if "postgres" in others:
                assert network == f"{server}-data" and others == {"postgres"}
        networks = {network for name in own for network in network_names(SERVICES[name])}
        reachable = {peer for network in networks for peer in members(network, profile)} - set(own)
        assert reachable == {"postgres", IDP[profile], *edge}, (server, reachable)
        exposed = [network for network in networks if not NETWORKS[network].get("internal")]
        if profile == "gateway":  # no way out but through the gateway
            assert exposed == [] and f"{server}-gw" in network_names(SERVICES["gateway"])
        else:  # its published port, on a network of its own
            assert exposed == [f"{server}-edge"] and members(f"{server}-edge", profile) == set(own)


def test_each_server_gets_only_its_own_database_secret() -> None:
    for profile in PROFILES:
        for server, own in server_services(profile).items():
            for name in own:
                secrets = set(secret_names(SERVICES[name]))
                assert {secret for secret in secrets if secret.endswith("_dsn")} == {f"{server}_dsn"}
                assert secrets - {f"{server}_dsn"} <= {"tls_certificate", "tls_key", "tls_ca",
                                                       f"{server}_request_state_key"}  # fmt: skip
                environment = SERVICES[name]["environment"]
                assert environment[f"SUPPLYCHAIN_{server.upper()}_DATABASE_URL_FILE"] == f"/run/secrets/{server}_dsn"
    holders = {secret: {name for name, spec in SERVICES.items() if secret in secret_names(spec)}
               for secret in COMPOSE["secrets"]}  # fmt: skip
    assert holders["postgres_admin_password"] == {"postgres", "db-init", "db-seed"}
    for server in SERVERS:
        assert holders[f"{server}_dsn"] == {"db-init", server, f"{server}-1", f"{server}-2"}
        assert holders[f"{server}_request_state_key"] == {f"{server}-1", f"{server}-2"}


def test_each_server_keeps_its_audit_checkpoints_and_signing_key_in_a_volume_of_its_own() -> None:
    # Writable (the root file system is read-only), outside Postgres, and one per server: its replicas
    # share it, so they share the signing key; no other service mounts it.
    for server in SERVERS:
        holders = {
            name for name, spec in SERVICES.items() if f"{server}-audit:/var/lib/supplychain" in spec.get("volumes", [])
        }
        assert holders == {server, f"{server}-1", f"{server}-2"}
        assert SERVICES[server]["environment"].get("SUPPLYCHAIN_HOME") is None  # the image's, /var/lib/supplychain


def test_no_credential_travels_in_the_environment() -> None:
    for name, spec in SERVICES.items():
        for key, value in (spec.get("environment") or {}).items():
            assert not key.endswith(("DATABASE_URL", "PASSWORD", "_KEY", "SECRET")), (name, key)
            assert "://" not in value or "@" not in value, (name, key)  # no user:password@ in a URL
            if value.startswith("/run/secrets/"):  # a path to a secret this service is actually given
                assert value.removeprefix("/run/secrets/") in secret_names(spec), (name, key)
    for secret in COMPOSE["secrets"].values():
        assert secret["file"].startswith("/srv/supplychain-secrets/"), secret


def test_long_running_services_are_health_checked_and_startup_waits_for_them() -> None:
    for name, spec in SERVICES.items():
        assert (spec.get("restart") == "no") == (name in ONE_SHOT), name
        if name not in ONE_SHOT:
            assert spec["healthcheck"]["test"][0] == "CMD" and spec["healthcheck"]["retries"] > 0, name
        for dependency, how in (spec.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert how == {"condition": expected}, (name, dependency)
            # Compose starts a dependency only in an enabled profile: an on-demand job's runs in every phase.
            needed = set(PROFILES) if name in ON_DEMAND else set(spec["profiles"])
            assert needed <= set(SERVICES[dependency]["profiles"]), (name, dependency)
    for profile in PROFILES:
        for own in server_services(profile).values():
            for name in own:
                assert set(SERVICES[name]["depends_on"]) == {"db-init", "postgres", IDP[profile]}
    replicas = {name for own in server_services("gateway").values() for name in own}
    assert set(SERVICES["gateway"]["depends_on"]) == replicas | {"gateway-render"}
    assert set(SERVICES["db-init"]["depends_on"]) == {"postgres"}
    assert set(SERVICES["db-seed"]["depends_on"]) == {"db-init"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_container_runs_unprivileged_and_read_only(name: str) -> None:
    spec = SERVICES[name]
    user = str(spec["user"])
    assert user.split(":")[0] not in ("", "0", "root"), user
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"] and "cap_add" not in spec
    assert "no-new-privileges:true" in spec["security_opt"]
    assert not spec.get("privileged") and spec.get("pid") != "host" and spec.get("ipc") != "host"


def test_the_app_services_run_the_dockerfile_user() -> None:
    app = {name for name, spec in SERVICES.items() if spec.get("image") == "supplychain-mcp:local"}
    assert app == set(SERVICES) - {"postgres", "gateway"} - DEV_IMAGE
    assert all(SERVICES[name]["build"] == {"context": ".", "target": "runtime"} for name in app)
    # Only the dev authorization server and the fixtures' loader run the image that holds them.
    dev = {name for name, spec in SERVICES.items() if spec.get("image") == "supplychain-mcp-dev:local"}
    assert dev == DEV_IMAGE
    assert all(SERVICES[name]["build"] == {"context": ".", "target": "dev"} for name in dev)
    assert all(SERVICES[name]["user"] == "10001:10001" for name in app | dev)
    # HAProxy reads the 0600 TLS bundle that `gateway render` wrote as the app's user.
    assert SERVICES["gateway"]["user"] == "10001:10001"


def test_the_gateway_is_haproxy_26_running_the_rendered_config() -> None:
    gateway, render = SERVICES["gateway"], SERVICES["gateway-render"]
    assert gateway["image"] == "haproxy:2.6"
    run_dir = render["environment"]["SUPPLYCHAIN_GATEWAY_RUN_DIR"]
    assert render["command"] == ["gateway", "render"]
    assert render["volumes"] == gateway["volumes"] == [f"gateway-config:{run_dir}"]
    assert gateway["command"] == ["-f", f"{run_dir}/haproxy.cfg"]
    for server in SERVERS:  # the one address whose X-Forwarded-* a replica honours is the gateway's
        address = gateway["networks"][f"{server}-gw"]["ipv4_address"]
        (pool,) = NETWORKS[f"{server}-gw"]["ipam"]["config"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(pool["subnet"])
        assert ipaddress.ip_address(address) not in ipaddress.ip_network(pool["ip_range"])  # never handed out
        for name in server_services("gateway")[server]:
            assert SERVICES[name]["environment"][f"SUPPLYCHAIN_{server.upper()}_FORWARDED_ALLOW_IPS"] == address


def test_the_db_init_job_and_postgres_agree_on_the_admin_role_and_database() -> None:
    script = SERVICES["db-init"]["entrypoint"][2]
    postgres = SERVICES["postgres"]["environment"]
    assert SERVICES["db-init"]["entrypoint"][:2] == ["/bin/sh", "-ec"]
    assert f"postgresql://{postgres['POSTGRES_USER']}:" in script
    assert f"@postgres:5432/{postgres['POSTGRES_DB']}" in script
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_admin_password"
    assert script.rstrip().endswith('exec supplychain db "$@"') and SERVICES["db-init"]["command"] == ["init"]


def test_the_db_seed_job_gets_the_admin_url_of_db_init_and_no_server_credential() -> None:
    seed, init = SERVICES["db-seed"], SERVICES["db-init"]
    admin_url_line = next(
        line for line in init["entrypoint"][2].splitlines() if "SUPPLYCHAIN_ADMIN_DATABASE_URL=" in line
    )
    assert seed["entrypoint"][:2] == ["/bin/sh", "-ec"] and admin_url_line in seed["entrypoint"][2].splitlines()
    assert seed["entrypoint"][2].rstrip().endswith('exec supplychain db "$@"') and seed["command"] == ["seed"]
    assert secret_names(seed) == ["postgres_admin_password"] and network_names(seed) == ["admin-data"]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_service_that_needs_the_issuer_resolves_its_name_to_the_idp(profile: str) -> None:
    idp = SERVICES[IDP[profile]]
    for name, spec in services(COMPOSE, profile).items():
        issuers = [value for key, value in (spec.get("environment") or {}).items() if key.endswith("ISSUER_URL")]
        for issuer in issuers:  # servers discover keys and revocations there; gateway-render reads the JWKS
            host = urlsplit(issuer).hostname
            aliases = {network: config.get("aliases", []) for network, config in idp["networks"].items()}
            assert any(host in aliases.get(network, []) for network in network_names(spec)), (name, issuer)
            assert issuer == idp["environment"]["SUPPLYCHAIN_IDP_ISSUER"]
