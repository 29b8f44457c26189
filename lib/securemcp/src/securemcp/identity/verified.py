"""The identity a verified token carries, for every layer after the verifier (the HTTP gate, the tool's caller).

The verifier reads a token's claims once, through its issuer's claim mapping, and hands the SDK a
`VerifiedToken` holding the result; the layers after it take the identity from there and never re-read
claims with a mapping of their own (which could disagree with the issuer's).
"""

from __future__ import annotations

from mcp.server.auth.provider import AccessToken

from securemcp.identity.principal import Identity, identity_from_claims
from securemcp.policy import RolePolicy


class VerifiedToken(AccessToken):
    """An `AccessToken` with the identity its issuer's mapping gave it."""

    identity: Identity


def identity_of_token(
    token: AccessToken, policy: RolePolicy, *, read_only_mode: bool = False, person_claim: str = "sub"
) -> Identity:
    """The caller a verified token names: the identity the verifier made, else (a token verified by
    another `TokenVerifier`) its claims read as one issuer for any tenant."""
    if isinstance(token, VerifiedToken):
        return token.identity
    return identity_from_claims(token.claims or {}, policy, read_only_mode=read_only_mode, person_claim=person_claim)
