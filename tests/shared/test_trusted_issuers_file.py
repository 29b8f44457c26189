"""The trusted-issuers file is read strictly: every mistake stops the start with the file and the line at fault.

Also the pieces the file configures, on their own: claim mappings for the usual IdPs' shapes, and the
algorithm a JWK published without `alg` is pinned to (`securemcp.identity.keys.pinned_algorithm`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import anyio
import pytest
from securemcp.approvals.pages.signin import SignInFailed, _person
from securemcp.identity.issuers import ClaimMapping, TenantMismatch, TrustedIssuer
from securemcp.identity.issuers_file import load_trusted_issuers, trusted_issuers_of
from securemcp.identity.keys import pinned_algorithm
from securemcp.identity.principal import identity_from_claims
from securemcp.identity.refused_tokens import RefusedTokenLog
from securemcp.settings import SettingsError

from deployment.policy import POLICY
from deployment.registry import SERVERS
from supplychain.servers import load_settings

GOOD = """\
[[issuer]]
issuer = "https://acme.okta.example/oauth2/default"
tenant = "acme"
[issuer.claims]
scopes = "scp"
roles = "groups"

[[issuer]]
issuer = "https://login.microsoftonline.example/v2.0"
tenants = ["globex", "initech"]
tenant_claim = "tid"
tenant_table = { "72f988bf" = "globex", "0b3c4e5f" = "initech" }
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "issuers.toml"
    path.write_text(text)
    return load_trusted_issuers(path, policy=POLICY)


def test_a_good_file_gives_each_issuer_its_tenants(tmp_path: Path) -> None:
    issuers = load(tmp_path, GOOD)
    okta, entra = list(issuers)  # type: ignore[call-overload]
    assert (okta.tenants, okta.claims.scopes, okta.claims.roles) == (frozenset({"acme"}), "scp", "groups")
    assert entra.tenant_table == {"72f988bf": "globex", "0b3c4e5f": "initech"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD.replace('tenant = "acme"', 'tenant = "acme"\naudiance = "x"'), 4,
         "unknown key 'audiance' in [[issuer]]"),
        (GOOD.replace('roles = "groups"', 'roles = "groups"\nrole = "x"'), 7, "unknown key 'role' in [issuer.claims]"),
        (GOOD.replace("login.microsoftonline.example/v2.0", "acme.okta.example/oauth2/default"), 9,
         "issuer 'https://acme.okta.example/oauth2/default' listed twice (first at line 1)"),
        (GOOD.replace('["globex", "initech"]', '["acme", "initech"]').replace('"globex"', '"acme"'), 10,
         "tenant 'acme' is already spoken for by the issuer at line 1"),
        (GOOD.replace('tenant = "acme"', 'tenant = "acme"\ntenant_claim = "tenant_id"'), 4,
         "tenant_claim on a one-tenant issuer"),
        (GOOD.replace('tenant = "acme"', 'tenant = "Acme Corp"'), 3, "malformed tenant id 'Acme Corp'"),
        (GOOD.replace('tenant_claim = "tid"\n', ""), 11, "tenant_table without a tenant_claim"),
        (GOOD.split('tenant_claim = "tid"')[0], 10, "an issuer of 2 tenants needs a tenant_claim"),
        (GOOD.replace('"0b3c4e5f" = "initech"', '"0b3c4e5f" = "acme"'), 12,
         "tenant_table maps '0b3c4e5f' to 'acme', not one of this issuer's tenants"),
        (GOOD.replace('roles = "groups"', 'roles = "groups"\nrole_table = { "g1" = "owner" }'), 7,
         "role_table maps 'g1' to 'owner', a role the policy does not define"),
        (GOOD.replace('scopes = "scp"', 'scopes = "scopes"'), 5, 'scopes must be "scope" or "scp"'),
        (GOOD.replace('[issuer.claims]', 'algorithms = ["HS256"]\n[issuer.claims]'), 4,
         "algorithms must be a non-empty list of RS256, ES256"),
        (GOOD.replace("[issuer.claims]", "[issuer.claims"), 4, "Expected ']'"),
    ],
)  # fmt: skip
def test_each_mistake_stops_the_start_naming_the_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load(tmp_path, text)
    first_line = str(raised.value).splitlines()[0]
    assert first_line.startswith(f"{tmp_path / 'issuers.toml'}:{line}: {message}"), first_line
    assert len(str(raised.value).splitlines()) == 1


def test_a_keycloak_shaped_token_reads_nested_roles_and_a_uuid_subject() -> None:
    keycloak = TrustedIssuer(issuer="https://kc.example/realms/acme", tenants=frozenset({"acme"}),
                             claims=ClaimMapping(roles="realm_access.roles"))  # fmt: skip
    claims = {"iss": keycloak.issuer, "sub": "f3c1a9e2-4b7d-4c3e-9a1f-6d2b8e7c5a40", "scope": "openid inventory:read",
              "realm_access": {"roles": ["analyst", "offline_access"]}}  # fmt: skip
    identity = identity_from_claims(claims, POLICY, issuer=keycloak)
    assert (identity.tenant_id, identity.user_id, identity.roles) == ("acme", claims["sub"], frozenset({"analyst"}))
    assert identity.scopes == frozenset({"inventory:read"})


@pytest.mark.parametrize("subject", ["auth0|64f1c2", "alice@acme.example.com", "00u1a2b3c4D5e6F7g8h9"])
def test_subjects_as_real_idps_issue_them_are_user_ids(subject: str) -> None:
    okta = TrustedIssuer(issuer="https://okta.example", tenants=frozenset({"acme"}), claims=ClaimMapping(scopes="scp"))
    claims = {"iss": okta.issuer, "sub": subject, "scp": ["inventory:read"], "roles": ["analyst"]}
    identity = identity_from_claims(claims, POLICY, issuer=okta)
    assert (identity.user_id, identity.scopes) == (subject, frozenset({"inventory:read"}))


def test_a_tenant_id_claim_naming_another_tenant_is_a_mismatch_not_a_redirect() -> None:
    globex = TrustedIssuer(issuer="https://globex.example", tenants=frozenset({"globex"}))
    claims = {"iss": globex.issuer, "sub": "bob", "tenant_id": "acme", "roles": ["analyst"]}
    with pytest.raises(TenantMismatch, match="token claims tenant 'acme', its issuer speaks for 'globex'"):
        identity_from_claims(claims, POLICY, issuer=globex)


@pytest.mark.parametrize(
    ("jwk", "configured", "discovered", "pinned"),
    [
        ({"kty": "RSA"}, None, frozenset({"RS256"}), "RS256"),
        ({"kty": "EC", "crv": "P-256"}, frozenset({"ES256"}), None, "ES256"),
        ({"kty": "RSA"}, None, None, None),  # the issuer says nothing: the key is not guessed at
        ({"kty": "RSA"}, None, frozenset({"ES256"}), None),  # it signs with another algorithm
        ({"kty": "EC", "crv": "P-384"}, None, frozenset({"ES256", "ES384"}), None),
        ({"kty": "oct"}, None, frozenset({"HS256", "RS256"}), None),  # never HMAC
        ({"kty": "RSA", "alg": "none"}, None, frozenset({"none"}), None),
        ({"kty": "RSA", "alg": "RS256"}, frozenset({"ES256"}), None, None),  # configured algorithms bind every key
        ({"kty": "RSA", "alg": "RS256"}, None, None, "RS256"),  # a key's own alg, as before
    ],
)
def test_a_jwk_without_alg_is_pinned_from_its_type_and_the_issuers_algorithms(
    jwk: dict[str, object], configured: frozenset[str] | None, discovered: frozenset[str] | None, pinned: str | None
) -> None:
    assert pinned_algorithm(jwk, configured, discovered) == pinned


def test_refusals_are_logged_once_per_check_and_issuer_per_ten_seconds_with_the_count_between(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    log = RefusedTokenLog(clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="securemcp.identity.refused_tokens")
    for at in (100.0, 101.0, 105.0, 109.9, 110.0):
        now[0] = at
        log.refused("signature", "https://acme.okta.example", "the signature does not verify")
    log.refused("audience", "https://acme.okta.example", "not issued for this server's audience")
    assert [record.getMessage() for record in caplog.records] == [
        "token refused: signature check failed (issuer 'https://acme.okta.example'): the signature does not verify",
        "token refused: signature check failed (issuer 'https://acme.okta.example'): the signature does not verify"
        " (3 more refused by this check since the last line)",
        "token refused: audience check failed (issuer 'https://acme.okta.example'): not issued for this server's"
        " audience",
    ]


def test_the_approval_pages_read_id_tokens_through_the_same_mapping() -> None:
    mapping = ClaimMapping(person="oid", roles="groups", role_table={"g-approvers": "approver"})
    entra = TrustedIssuer(issuer="https://login.example/t/v2.0", tenants=frozenset({"globex"}), claims=mapping)
    id_token = {"iss": entra.issuer, "sub": "pairwise-for-the-pages", "oid": "0000-66f3", "auth_time": 1_700_000_000,
                "groups": ["g-approvers", "g-unmapped"]}  # fmt: skip
    person = _person(id_token, entra)
    assert (person.tenant_id, person.user_id, person.roles) == ("globex", "pairwise-for-the-pages", {"approver"})
    assert person.person_id == "https://login.example/t/v2.0 oid=0000-66f3"
    with pytest.raises(SignInFailed, match="token claims tenant 'acme', its issuer speaks for 'globex'"):
        _person(id_token | {"tenant_id": "acme"}, entra)


@pytest.mark.usefixtures("server_urls")
async def test_the_cli_refuses_to_serve_with_a_mistaken_issuers_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "issuers.toml"
    path.write_text(GOOD.replace('tenant = "acme"', 'tenant = "acme"\naudiance = "x"'))
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_INVENTORY_")}
    env["SUPPLYCHAIN_INVENTORY_TRUSTED_ISSUERS_FILE"] = str(path)
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "supplychain.cli", "serve", "inventory", "--transport", "http"], env=env, check=False
        )
    assert done.returncode == 2
    assert done.stderr.decode() == (
        f"supplychain serve inventory: refusing to start: {path}:4: unknown key 'audiance' in [[issuer]]; known: "
        "algorithms, approvals, audience, claims, issuer, jwks_url, revocation, tenant, tenant_claim, tenant_table, "
        "tenants\n"
    )


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("PERSON_CLAIM", "PERSON_CLAIM is for ISSUER_URL alone: with {path}, set each issuer's [issuer.claims] person"),
        ("JWKS_URL", "JWKS_URL is for ISSUER_URL alone: with {path}, give each issuer its jwks_url"),
    ],
)
def test_a_single_issuer_setting_beside_an_issuers_file_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, message: str
) -> None:
    # Ignored, PERSON_CLAIM=oid would quietly fall back to comparing pairwise `sub`s (one person, two ids).
    server = SERVERS[0]
    path = tmp_path / "issuers.toml"
    path.write_text(GOOD.replace("https://acme.okta.example/oauth2/default", "http://127.0.0.1:8100"))
    monkeypatch.setenv(f"SUPPLYCHAIN_{server.upper()}_TRUSTED_ISSUERS_FILE", str(path))
    value = "oid" if variable == "PERSON_CLAIM" else "http://127.0.0.1:1/jwks"
    monkeypatch.setenv(f"SUPPLYCHAIN_{server.upper()}_{variable}", value)
    with pytest.raises(SettingsError) as raised:
        trusted_issuers_of(load_settings(server))
    assert str(raised.value) == message.format(path=path)
