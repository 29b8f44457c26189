"""An ID token minted for another client is refused (the check the sign-in hands to authlib).

A hostile or mixed-up IdP cannot exist here, so the test stands in for it: it makes its own RSA key,
signs ID tokens with it, and validates them exactly as authlib's `parse_id_token` does for the pages.
"""

from __future__ import annotations

import time

import pytest
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import RSAKey
from securemcp.approvals.pages.signin import id_token_claims_options

ISSUER = "https://idp.example"
CLIENT = "approvals-client"


def _validated(audience: str) -> None:
    key = RSAKey.generate_key(2048)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "priya",
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
        "nonce": "n1",
    }
    token = jwt.decode(jwt.encode({"alg": "RS256"}, claims, key), key)
    params = {"nonce": "n1", "client_id": CLIENT}
    checked = CodeIDToken(token.claims, token.header, id_token_claims_options(ISSUER, CLIENT), params)
    checked.validate(leeway=120)


def test_a_token_for_this_client_is_accepted() -> None:
    _validated(CLIENT)


def test_a_token_for_another_audience_is_refused() -> None:
    with pytest.raises(Exception, match="aud"):
        _validated("some-other-client")
