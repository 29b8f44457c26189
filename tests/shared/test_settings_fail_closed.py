"""What a server settings class leaves unset fails closed: no port is guessed, no role is granted."""

from __future__ import annotations

import pytest
from pydantic_settings import SettingsConfigDict
from securemcp.settings import ServerSettings, SettingsError


class Unfinished(ServerSettings):
    """A settings class that names its server but neither its port nor the deployment's role policy."""

    server_name = "unfinished"
    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_UNFINISHED_", extra="forbid", frozen=True)


def test_a_server_without_a_default_port_refuses_to_name_its_address() -> None:
    with pytest.raises(SettingsError, match=r"^Unfinished names no default_port: set it, or set PORT$"):
        _ = Unfinished().resource_url
    assert Unfinished(port=9999).resource_url == "http://127.0.0.1:9999/mcp"


def test_a_server_without_a_role_policy_grants_no_role_anything() -> None:
    assert not Unfinished.policy.knows("analyst")
    assert Unfinished.policy.scopes_for_known_roles(["analyst", "auditor"]) == frozenset()
