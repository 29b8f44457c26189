"""The server registry: each entry is consistent with its package, and no two servers collide."""

from __future__ import annotations

import re

import pytest
from alembic.script import ScriptDirectory

from deployment.registry import GATEWAY_PORT, IDP_PORT, REGISTRY, SERVERS, entry, port_from, replica_address
from supplychain.admin import alembic_config
from supplychain.servers import load_settings, server_module


def test_no_two_servers_share_a_port_or_a_segment() -> None:
    ports = [server.port for server in REGISTRY.values()]
    segments = [server.segment for server in REGISTRY.values()]
    assert len(set(ports)) == len(ports)
    assert not {IDP_PORT, GATEWAY_PORT} & set(ports), "a server port is the authorization server's or the gateway's"
    assert len(set(segments)) == len(segments)
    # 127.0.0.<10 * segment + replica> and 172.28.<segment>.0/24 must stay valid addresses
    assert all(1 <= segment <= 24 for segment in segments), segments


@pytest.mark.parametrize("name", SERVERS)
def test_the_entry_matches_its_server_package(name: str) -> None:
    server = REGISTRY[name]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name)  # a Python package, a Postgres schema and role, a scope prefix
    assert all(scope.startswith(f"{name}:") for scope in server.capabilities)
    assert not {server.read_scope, server.decide_scope} & set(server.capabilities)
    settings_class = getattr(server_module(name), server.settings_class_name)
    assert settings_class.model_config["env_prefix"] == server.env_prefix
    assert load_settings(name).listen_port == server.port
    rule_scopes = {tool.rule.scope for tool in server_module(name).TOOLS}
    assert rule_scopes == {"audit:read", server.read_scope, *server.capabilities}  # no declared scope unused


def test_the_migration_branches_are_the_registered_servers() -> None:
    revisions = ScriptDirectory.from_config(alembic_config())
    branches = [label for script in revisions.walk_revisions() for label in script.branch_labels]
    assert sorted(branches) == sorted(SERVERS)


@pytest.mark.parametrize("name", SERVERS)
def test_ports_and_replica_addresses_follow_the_entry_not_the_position(name: str) -> None:
    server = REGISTRY[name]
    assert port_from(name, IDP_PORT) == server.port  # its own port in the default stack
    assert port_from(name, IDP_PORT + 1000) == server.port + 1000  # a moved stack moves every port alike
    assert replica_address(name, 0) == f"127.0.0.{10 * server.segment + 1}:{server.port}"
    assert replica_address(name, 1, port=9000) == f"127.0.0.{10 * server.segment + 2}:9000"


def test_an_unregistered_name_is_refused_naming_every_registered_server() -> None:
    with pytest.raises(ValueError) as refused:
        entry("not_registered")
    assert str(refused.value) == f"unknown server 'not_registered'; choose one of {', '.join(SERVERS)}"
