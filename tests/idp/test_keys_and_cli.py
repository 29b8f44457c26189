"""Signing keys on disk, rotation without a restart, and the `supplychain idp` commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from joserfc import jwt as jose_jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from idp.clients import load_service_clients
from idp.keys import KeyRing, keys_dir, rotate_keys
from idp.tokens import mint_access_token
from supplychain.cli import main
from tests.idp.flows import Idp, user_tokens, verified


async def kids(idp: Idp) -> list[str]:
    return [key["kid"] for key in (await idp.http.get("/jwks.json")).json()["keys"]]


async def test_rotation_publishes_both_keys_and_signs_with_the_new_one(idp: Idp) -> None:
    before = await user_tokens(idp, user="alice@acme", server="inventory")
    (old_kid,) = await kids(idp)

    new = rotate_keys()  # as `supplychain idp rotate-keys` would, from another process, while the IdP runs
    assert await kids(idp) == [new.kid, old_kid]
    header, _ = await verified(idp, before["access_token"])  # old tokens still verify against the new JWKS
    assert header["kid"] == old_kid
    after = await user_tokens(idp, user="alice@acme", server="inventory")
    assert (await verified(idp, after["access_token"]))[0]["kid"] == new.kid

    newest = rotate_keys()
    assert await kids(idp) == [newest.kid, new.kid]  # keys older than the previous one are dropped
    with pytest.raises(InvalidKeyIdError):
        await verified(idp, before["access_token"])


def test_key_files_are_private(idp_home: Path) -> None:
    KeyRing().signing_key()
    (key_file,) = keys_dir().iterdir()
    assert keys_dir().stat().st_mode & 0o777 == 0o700
    assert (idp_home / "idp").stat().st_mode & 0o777 == 0o700
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_mint_access_token_follows_the_same_rules(idp_home: Path) -> None:
    token = mint_access_token(user="ana@acme", server="inventory", scopes=["inventory:read", "inventory:reorder"])
    jwks: Any = KeyRing().jwks()
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert decoded.header == {"alg": "RS256", "kid": KeyRing().signing_key().kid, "typ": "at+jwt"}
    claims = decoded.claims
    assert {key: claims[key] for key in ("iss", "sub", "aud", "scope", "tenant_id", "roles", "client_id")} == {
        "iss": "http://127.0.0.1:8100",
        "sub": "ana@acme",
        "aud": "http://127.0.0.1:8101/mcp",
        "scope": "inventory:read",
        "tenant_id": "acme",
        "roles": ["analyst"],
        "client_id": "supplychain-cli",
    }
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"]
    assert abs(claims["iat"] - time.time()) < 5
    with pytest.raises(ValueError, match="none of the requested scopes"):
        mint_access_token(user="fred@acme", server="inventory", scopes=None)
    with pytest.raises(ValueError, match="unknown user"):
        mint_access_token(user="mallory@acme", server="inventory", scopes=None)


def test_cli_token_prints_only_a_token(idp_home: Path) -> None:
    result = CliRunner().invoke(
        main, ["idp", "token", "--user", "alice@acme", "--server", "payments", "--scope", "payments:read audit:read"]
    )
    assert result.exit_code != 0 and "none of the requested scopes" in result.output  # alice has no payments scope
    result = CliRunner().invoke(main, ["idp", "token", "--user", "fred@acme", "--server", "payments"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert "\n" not in token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["aud"], claims["scope"]) == (
        "http://127.0.0.1:8104/mcp",
        "payments:read payments:refund payments:release",
    )


def test_cli_rotate_keys_keeps_the_previous_key(idp_home: Path) -> None:
    first = KeyRing().signing_key().kid
    result = CliRunner().invoke(main, ["idp", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert sorted(path.stem for path in keys_dir().iterdir())[0] == first
    assert len(list(keys_dir().iterdir())) == 2


def test_cli_add_client_prints_the_secret_once_and_stores_its_hash(idp_home: Path) -> None:
    result = CliRunner().invoke(
        main, ["idp", "add-client", "--name", "nightly report", "--tenant", "globex", "--roles", "finance"]
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    client_id, secret = lines["client_id"], lines["client_secret"]
    (client,) = load_service_clients(idp_home / "idp" / "clients.json").values()
    assert (client.client_id, client.tenant_id, client.roles) == (client_id, "globex", ("finance",))
    assert client.check_client_secret(secret) and secret not in (idp_home / "idp" / "clients.json").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "acme", "--roles", "superuser"], "unknown role 'superuser'"),
        (["--tenant", "Acme Corp", "--roles", "analyst"], "malformed tenant id"),
        (["--tenant", "acme", "--roles", ""], "at least one role"),
    ],
)
def test_cli_add_client_refuses_bad_input(idp_home: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["idp", "add-client", "--name", "bot", *args])
    assert result.exit_code != 0 and message in result.output
