"""Tokens for the HTTP tests: real ones from the dev IdP, and forged ones made to be refused.

- `flow_token`: the scripted authorization-code + PKCE flow a real client runs (login, consent, code
  exchange with a resource indicator), reusing `tests.idp.flows`;
- `mint`: the IdP's own `issue_access_token` with its settings and key ring (same claims, same key),
  optionally for another audience (extra server instances listen on other ports);
- `claims_of` / `sign`: a real token's claims, edited, signed with the IdP's real key (or any other).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.tokens import DEV_CLI_CLIENT_ID, Subject, fixture_subject, grant_scopes, issue_access_token, new_grant_id
from tests.http.stack import Idp, Server, probe_until_accepted
from tests.idp import flows


async def flow_token(idp: Idp, *, user: str, server: str, scope: str | None = None) -> dict[str, Any]:
    """The token response of a fresh public client for `user` on `server` (a browser of its own)."""
    async with httpx2.AsyncClient(base_url=idp.issuer, timeout=10) as http:
        body = await flows.user_tokens(
            flows.Idp(settings=idp.settings, http=http, app=idp.app), user=user, server=server, scope=scope
        )
    return body


def mint(
    idp: Idp,
    *,
    user: str,
    server: str,
    scopes: list[str] | None = None,
    audience: str | None = None,
    subject: Subject | None = None,
) -> str:
    """An access token exactly as the IdP issues it (scopes granted by the roles), for `audience`."""
    subject = subject or fixture_subject(user)
    settings = idp.settings
    if audience is not None:
        settings = settings.model_copy(update={"resources": {**settings.resources, server: audience}})
    granted = grant_scopes(requested=scopes, roles=subject.roles, server=server)
    issued = issue_access_token(
        settings=settings,
        keys=idp.keys,
        subject=subject,
        client_id=DEV_CLI_CLIENT_ID,
        server=server,
        scopes=granted,
        grant_id=new_grant_id(),
    )
    return issued.token


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token, unverified (to edit and re-sign)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def header_of(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


def sign(idp: Idp, claims: dict[str, Any], *, key: Any = None, kid: str | None = None, algorithm: str = "RS256") -> str:
    """`claims` signed with the IdP's current private key (or `key`), header as the IdP writes it."""
    signing = idp.keys.signing_key()
    return jwt.encode(
        claims,
        signing.private_key if key is None else key,
        algorithm=algorithm,
        headers={"kid": signing.kid if kid is None else kid, "typ": "at+jwt"},
    )


def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """`token` with its payload replaced by `claims` and its original signature kept (tampering)."""
    header, _payload, signature = token.split(".")
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """An `alg: none` token: header and payload, empty signature."""
    header = b64url(json.dumps({"alg": "none", "kid": kid, "typ": "at+jwt"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


# A tenant no test uses: readiness probes count against rate limits, but only this tenant's.
PROBE = Subject(sub="probe@readiness-probe", tenant_id="readiness-probe", roles=("analyst",))


def wait_until_accepting(idp: Idp, server: Server) -> None:
    """Block until `server` has the issuer's keys and a fresh revocation list."""
    probe_until_accepted(server, mint(idp, user=PROBE.sub, server=server.name, audience=server.url, subject=PROBE))
