"""The dev authorization server refuses settings that would weaken it or make its tokens ambiguous."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey
from pydantic import ValidationError
from securemcp.settings import SettingsError

from deployment.registry import REGISTRY
from idp.settings import DEFAULT_RESOURCES, IdpSettings

PUBLIC_JWK = RSAKey.generate_key(2048, parameters={"kid": "k1"}).as_dict(private=False)


def test_defaults(idp_home: Path) -> None:
    settings = IdpSettings()
    assert (settings.issuer, settings.host, settings.port, settings.access_token_ttl_seconds) == (
        "http://127.0.0.1:8100",
        "127.0.0.1",
        8100,
        600,
    )
    # Every registered server, at its own registry port on loopback.
    assert settings.resources == {name: f"http://127.0.0.1:{server.port}/mcp" for name, server in REGISTRY.items()}


def test_resources_and_issuer_from_the_environment(idp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_IDP_RESOURCES", json.dumps({"payments": "https://pay.example/mcp"}))
    monkeypatch.setenv("SUPPLYCHAIN_IDP_ISSUER", "https://idp.example")
    settings = IdpSettings()
    assert settings.resources == {**DEFAULT_RESOURCES, "payments": "https://pay.example/mcp"}
    assert settings.issuer == "https://idp.example"
    assert settings.server_for_resource("https://pay.example/mcp") == "payments"
    assert settings.server_for_resource("https://pay.example/mcp/") is None


@pytest.mark.parametrize("ttl", [0, 299, 901, 3600])
def test_access_token_lifetime_stays_between_5_and_15_minutes(idp_home: Path, ttl: int) -> None:
    with pytest.raises(ValidationError, match="access_token_ttl_seconds"):
        IdpSettings(access_token_ttl_seconds=ttl)


@pytest.mark.parametrize(
    "resources",
    [
        {"billing": "https://billing.example/mcp"},
        {"inventory": "ftp://inventory.example/mcp"},
        {"inventory": "https://inventory.example/mcp#x"},
        {"inventory": "http://127.0.0.1:8102/mcp"},  # the same URL as logistics: an ambiguous audience
    ],
)
def test_bad_resources_are_refused(idp_home: Path, resources: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="resources"):
        IdpSettings(resources=resources)


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8100/", "127.0.0.1:8100", "https://idp.example?x=1"])
def test_bad_issuers_are_refused(idp_home: Path, issuer: str) -> None:
    with pytest.raises(ValidationError, match="issuer"):
        IdpSettings(issuer=issuer)


def test_a_typo_in_a_variable_name_is_refused(idp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_IDP_ACCESS_TOKEN_TTL", "3600")
    with pytest.raises(SettingsError, match="SUPPLYCHAIN_IDP_ACCESS_TOKEN_TTL"):
        IdpSettings()


def test_binding_beyond_loopback_needs_allow_remote(idp_home: Path) -> None:
    with pytest.raises(ValidationError, match="ALLOW_REMOTE"):
        IdpSettings(host="0.0.0.0")  # noqa: S104
    assert IdpSettings(host="0.0.0.0", allow_remote=True, issuer="https://idp.example").host == "0.0.0.0"  # noqa: S104
    assert IdpSettings(port=8200).issuer == "http://127.0.0.1:8200"


ACME_IDP = {"issuer": "https://acme.okta.example", "tenant": "acme", "jwks_url": "https://acme.okta.example/keys"}


def test_enterprise_idps_from_the_environment(idp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    globex = {"issuer": "https://login.globex.example", "tenant": "globex", "jwks": {"keys": [PUBLIC_JWK]}}
    monkeypatch.setenv("SUPPLYCHAIN_IDP_ENTERPRISE_IDPS", json.dumps([ACME_IDP, globex]))
    settings = IdpSettings()
    assert settings.enterprise_idp("https://acme.okta.example") == settings.enterprise_idps[0]
    assert settings.enterprise_idp("https://acme.okta.example/") is None  # issuers compare exactly
    assert [idp.tenant for idp in settings.enterprise_idps] == ["acme", "globex"]


@pytest.mark.parametrize(
    ("idps", "message"),
    [
        ([{**ACME_IDP, "tenants": ["acme"]}], "enterprise_idps.0.tenants\n  Extra inputs are not permitted"),
        ([ACME_IDP, {**ACME_IDP, "tenant": "globex"}], "'https://acme.okta.example' is listed twice"),
        ([ACME_IDP, {**ACME_IDP, "issuer": "https://other.example"}], "tenant 'acme' is bound to two enterprise"),
        ([{**ACME_IDP, "tenant": "initech"}], "unknown tenant 'initech'"),
        ([{k: v for k, v in ACME_IDP.items() if k != "jwks_url"}], "give exactly one of jwks_url and jwks"),
        ([{**ACME_IDP, "jwks": {"keys": [PUBLIC_JWK]}}], "give exactly one of jwks_url and jwks"),
        ([{**ACME_IDP, "jwks_url": "http://acme.okta.example/keys"}], "jwks_url must be https"),
        ([{**ACME_IDP, "jwks_url": None, "jwks": {"keys": [{"kty": "RSA"}]}}], "jwks holds a key that cannot be used"),
        (
            [{**ACME_IDP, "jwks_url": None, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}],
            "jwks may hold only RSA and EC keys",
        ),
        (
            [{**ACME_IDP, "jwks_url": None, "jwks": {"keys": [{**PUBLIC_JWK, "alg": "HS256"}]}}],
            "jwks may hold only RSA and EC keys",
        ),
        ([{**ACME_IDP, "issuer": "http://127.0.0.1:8100"}], "cannot be this authorization server itself"),
    ],
)
def test_enterprise_idps_are_parsed_strictly(idp_home: Path, idps: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        IdpSettings(enterprise_idps=idps)
