"""A stand-in for a tenant's enterprise IdP (Okta, Entra ID, ...): DEMO AND TEST CODE ONLY.

SEP-990 has two legs. Leg 2 (an ID-JAG for an access token at the MCP authorization server) is real:
`idp.id_jag`. Leg 1 happens at the company's IdP: an RFC 8693 token exchange of the user's ID token for
an ID-JAG. authlib has no RFC 8693 server (its module is empty) and a real IdP cannot run here, so this
module plays that part, with none of a real IdP's checks beyond its own signature and lifetime:

- a test RSA key pair per IdP, its JWKS at `/<name>/jwks.json`;
- `id_token(user)`: the user "signed in" (no password: the demo's scripted user);
- `/<name>/token`: the leg-1 exchange; it verifies the ID token it issued, and returns an ID-JAG for the
  requested `audience` (the MCP authorization server), `resource` and `scope`, naming the `client_id`
  given (a real IdP maps its own client to the client's id at that authorization server).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.oauth2.drafts import IDJAGGrant
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN, not a secret)
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 (a URN, not a secret)
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN_SECONDS = 300
ID_JAG_SECONDS = 300


@dataclass
class StandInIdp:
    """One tenant's enterprise IdP: an issuer URL and a signing key."""

    issuer: str
    key: RSAKey

    @classmethod
    def generate(cls, issuer: str, kid: str) -> StandInIdp:
        return cls(issuer=issuer, key=RSAKey.generate_key(2048, parameters={"kid": kid}))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def id_token(self, user: str, *, client: str = "agent") -> str:
        """An ID token for `user` (a person of this IdP's tenant, without `@tenant`), as after a sign-in."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user, "aud": client, "iat": now, "exp": now + ID_TOKEN_SECONDS}
        return jwt.encode({"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}, claims, self.key, algorithms=["RS256"])

    def id_jag(
        self,
        *,
        audience: str,
        subject: str,
        client_id: str,
        resource: str | None,
        scope: str | None = None,
        lifetime: int = ID_JAG_SECONDS,
        issued_at: int | None = None,
        **claims: Any,
    ) -> str:
        """An ID-JAG signed with authlib's `IDJAGGrant.sign` (`claims` adds or overrides claims)."""
        issued_at = issued_at or int(time.time())
        jti = claims.pop("jti", None)  # `sign` sets the claim itself (a fresh one when None)
        extra = {k: v for k, v in {"resource": resource, "scope": scope, **claims}.items() if v is not None}
        return str(
            IDJAGGrant.sign(
                self.key, self.issuer, audience, subject, client_id, jti=jti,
                issued_at=issued_at, expires_at=issued_at + lifetime, claims=extra,
                alg="RS256", header={"kid": self.key.kid},
            )
        )  # fmt: skip

    def plain_jwt(self, **claims: Any) -> str:
        """A JWT with this key but `typ` `JWT` (an ID token, say): not an ID-JAG."""
        header = {"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=["RS256"])

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Leg 1: the RFC 8693 exchange of an ID token this IdP issued for an ID-JAG."""
        if form.get("grant_type") != TOKEN_EXCHANGE or form.get("requested_token_type") != ID_JAG_TYPE:
            return 400, {"error": "unsupported_grant_type"}
        if form.get("subject_token_type") != ID_TOKEN_TYPE or not form.get("audience") or not form.get("client_id"):
            return 400, {"error": "invalid_request"}
        try:
            token = jwt.decode(form.get("subject_token", ""), self.key, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer}, exp={"essential": True}).validate(
                token.claims
            )
        except (JoseError, ValueError):
            return 400, {"error": "invalid_grant"}
        assertion = self.id_jag(
            audience=form["audience"],
            subject=str(token.claims["sub"]),
            client_id=form["client_id"],
            resource=form.get("resource"),
            scope=form.get("scope"),
        )
        body = {"issued_token_type": ID_JAG_TYPE, "access_token": assertion, "token_type": "N_A"}
        return 200, {**body, "expires_in": ID_JAG_SECONDS}


def enterprise_idps_app(idps: dict[str, StandInIdp]) -> Starlette:
    """Serves `/<name>/jwks.json` and the leg-1 exchange at `/<name>/token` for each stand-in."""

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(idps[request.path_params["name"]].jwks())

    async def token(request: Request) -> JSONResponse:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        status, body = idps[request.path_params["name"]].exchange(form)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/{name}/jwks.json", jwks), Route("/{name}/token", token, methods=["POST"])])


async def request_id_jag(
    http: httpx2.AsyncClient, *, idp: StandInIdp, id_token: str, audience: str, resource: str, client_id: str,
    scope: str | None = None,
) -> str:  # fmt: skip
    """Leg 1 from the agent's side: exchange the user's ID token at the enterprise IdP for an ID-JAG."""
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "requested_token_type": ID_JAG_TYPE,
        "subject_token_type": ID_TOKEN_TYPE,
        "subject_token": id_token,
        "audience": audience,
        "resource": resource,
        "client_id": client_id,
        **({"scope": scope} if scope else {}),
    }
    response = await http.post(f"{idp.issuer}/token", data=form)
    response.raise_for_status()
    return str(response.json()["access_token"])
