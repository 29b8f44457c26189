"""Sign-in for the approval pages: OpenID Connect, authorization code with PKCE, through authlib.

Guarantees (authlib's Starlette client does the protocol; this module says what it must accept):
- a sign-in happens at one issuer, chosen before it starts (`PagesConfig.sign_in_for`, home-realm
  discovery by the approval's tenant) and kept in the signed handshake cookie; the callback is finished
  with that issuer's client only, an `iss` in the authorization response (RFC 9207) must name it, and
  each issuer has its own client (a code or state of one is never redeemed at another);
- the IdP is found by its issuer URL alone (OpenID discovery), and an ID token counts only if its
  `iss` is exactly that issuer, its `aud` this client, its nonce the one sent, its
  signature one of the issuer's keys, and it names a well-formed user and `auth_time`;
- the tenant, roles and person are read through the issuer's claim mapping, as its access tokens are
  (`securemcp.identity.issuers`): the tenant its issuer decides (a `tenant_id` claim naming another is
  refused), roles mapped from the configured claim; a roles or tenant claim missing from the ID token
  is taken from userinfo, if userinfo names the same subject;
- PKCE (S256) and `state` on every sign-in; `max_age` asks the IdP for a recent authentication, and
  `prompt=login` forces a new one when the person must sign in again;
- with no client id configured for an issuer (the dev IdP), the server registers itself once per issuer and
  callback (RFC 7591); the registration is kept in a 0600 file, so a server's replicas share it and a
  callback that reaches another replica still redeems its code.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
from authlib.common.errors import AuthlibBaseError  # the base of authlib's OAuthError, cheap to import
from starlette.requests import Request
from starlette.responses import Response

from securemcp.approvals.pages.config import PagesConfig, SignInAt
from securemcp.identity.issuers import ClaimError, TenantMismatch, TrustedIssuer, issuer_for_any_tenant
from securemcp.identity.principal import TENANT_ID_PATTERN, USER_ID_PATTERN, IdentityError, person_id
from securemcp.settings import secrets_dir

logger = logging.getLogger(__name__)

# The ID token must say when the person authenticated; the issuer must be the configured one, not
# whatever the discovery document says (a tampered or mixed-up document cannot name another issuer).
_REQUIRED = ("sub", "auth_time")
_ISSUER = "issuer"  # the handshake cookie's entry naming the issuer the sign-in started at


class SignInFailed(Exception):
    """The IdP's answer was refused (the reason is for the log; the person sees a generic page)."""


@dataclass(frozen=True)
class SignedIn:
    """A person as the ID token named them, and when they last authenticated at the IdP."""

    user_id: str
    tenant_id: str
    roles: frozenset[str]
    auth_time: datetime
    person_id: str  # the issuer plus the configured person claim: what four eyes compares


def _person(claims: dict[str, Any], issuer: TrustedIssuer | str) -> SignedIn:
    """The person an ID token names, read through the sign-in issuer's claim mapping, as its access tokens are
    (`securemcp.identity.principal.identity_from_claims`); `issuer` a person claim alone: one issuer, any tenant."""
    if isinstance(issuer, str):
        issuer = issuer_for_any_tenant("", person_claim=issuer)
    missing = [name for name in _REQUIRED if name not in claims]
    if missing:
        raise SignInFailed(f"ID token lacks {', '.join(missing)}")
    user, auth_time = claims["sub"], claims["auth_time"]
    if not isinstance(user, str) or not USER_ID_PATTERN.fullmatch(user):
        raise SignInFailed("malformed subject")
    if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
        raise SignInFailed("malformed auth_time")
    try:
        tenant = issuer.tenant_of(claims)
        roles = issuer.claims.roles_of(claims)
        person = person_id(claims, issuer.claims.person)
    except (ClaimError, TenantMismatch, IdentityError) as error:
        raise SignInFailed(str(error)) from None
    if not TENANT_ID_PATTERN.fullmatch(tenant):
        raise SignInFailed("malformed tenant")
    return SignedIn(user, tenant, roles, datetime.fromtimestamp(auth_time, UTC), person)


def _from_userinfo(issuer: TrustedIssuer, claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The claims the mapping reads that the ID token lacks: many IdPs put roles and groups only in userinfo."""
    wanted = [issuer.claims.roles.split(".")[0]]
    if issuer.tenant_claim is not None:
        wanted.append(issuer.tenant_claim)
    return tuple(name for name in wanted if name not in claims)


def id_token_claims_options(issuer_url: str, client_id: str) -> dict[str, Any]:
    """The ID token claims authlib must check: exact issuer, this client as audience, `auth_time` present."""
    # authlib checks `aud` only through `azp` unless told: a token minted for another client would pass.
    return {
        "iss": {"essential": True, "values": [issuer_url]},
        "aud": {"essential": True, "values": [client_id]},
        "auth_time": {"essential": True},
    }


class SignIn:
    """The pages' OpenID Connect clients for one server, one per issuer (each registered there on first use)."""

    def __init__(self, config: PagesConfig) -> None:
        self.config = config
        self._oauth: Any = None
        self._clients: dict[str, Any] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def _app(self, realm: SignInAt) -> Any:
        # One lock per issuer: a slow registration at one IdP keeps no other tenant's people waiting.
        async with self._locks.setdefault(realm.url, anyio.Lock()):
            client = self._clients.get(realm.url)
            if client is None:
                # Imported on first sign-in, not at start-up: it costs a server a second to import.
                from authlib.integrations.starlette_client import OAuth

                client_id, client_secret = realm.client_id, realm.client_secret
                if client_id is None:
                    client_id, client_secret = await registered_client(self.config, realm)
                self._oauth = self._oauth or OAuth()
                client = self._oauth.register(
                    name=f"approvals{len(self._clients)}",  # authlib keeps each one's state apart by this name
                    client_id=client_id,
                    client_secret=client_secret,
                    server_metadata_url=f"{realm.url}/.well-known/openid-configuration",
                    client_kwargs={
                        "scope": "openid",
                        "code_challenge_method": "S256",
                        "token_endpoint_auth_method": "client_secret_basic" if client_secret else "none",
                        "timeout": 10.0,
                    },
                )
                self._clients[realm.url] = client
            return client

    async def redirect(self, request: Request, realm: SignInAt, *, again: bool) -> Response:
        """Send the browser to `realm`'s IdP; `again` forces a fresh authentication (`prompt=login`)."""
        extra: dict[str, str] = {"max_age": str(int(self.config.max_sign_in_age.total_seconds()))}
        if again:
            extra["prompt"] = "login"
        try:
            client = await self._app(realm)
            response: Response = await client.authorize_redirect(request, self.config.callback_url, **extra)
        except (AuthlibBaseError, ValueError, KeyError, httpx2.HTTPError) as error:  # discovery or registration failed
            raise SignInFailed(f"{type(error).__name__}: {error}") from None
        request.session[_ISSUER] = realm.url  # the callback is finished at this issuer and no other
        return response

    async def finish(self, request: Request) -> SignedIn:
        """Redeem the callback's code at the issuer the sign-in started at and check the ID token;
        `SignInFailed` when anything is off."""
        realm = self.config.realm_at(request.session.get(_ISSUER))
        if realm is None:
            raise SignInFailed("no sign-in was started from this browser (or at an issuer no longer trusted)")
        answered_by = request.query_params.get("iss")
        if answered_by is not None and answered_by != realm.url:  # RFC 9207: a mix-up of two IdPs' answers
            raise SignInFailed(f"the answer names issuer {answered_by[:200]!r}, the sign-in started at {realm.url!r}")
        client = await self._app(realm)
        options = id_token_claims_options(realm.url, client.client_id)
        try:
            token = await client.authorize_access_token(request, claims_options=options)
        except (AuthlibBaseError, ValueError, KeyError, httpx2.HTTPError) as error:
            raise SignInFailed(f"{type(error).__name__}: {error}") from None
        except Exception as error:  # authlib's claim errors (joserfc) have no common base with the above
            raise SignInFailed(f"{type(error).__name__}") from None
        claims = token.get("userinfo")  # authlib's name for the verified ID token's claims
        if claims is None:
            raise SignInFailed("the IdP returned no ID token (is `openid` allowed for this client?)")
        claims = dict(claims)
        missing = _from_userinfo(realm.issuer, claims)
        if missing:
            claims.update(await self._userinfo(client, token, claims.get("sub"), missing))
        # The tenant is the one this issuer decides, whatever tenant the page's URL named.
        return _person(claims, realm.issuer)

    async def _userinfo(self, client: Any, token: Any, sub: object, names: tuple[str, ...]) -> dict[str, Any]:
        """`names` from the userinfo endpoint, when it names the ID token's own subject (OpenID Connect 5.3.2)."""
        try:
            info = await client.userinfo(token=token)
        except Exception as error:  # no userinfo endpoint, or it refused: the mapping then finds nothing
            logger.info("approval pages: no userinfo (%s)", type(error).__name__)
            return {}
        if info.get("sub") != sub:
            raise SignInFailed("userinfo names another subject than the ID token")
        return {name: info[name] for name in names if name in info}


def _registration_file(config: PagesConfig) -> Path:
    return secrets_dir() / f"{config.server}-approvals-client.json"


async def registered_client(config: PagesConfig, realm: SignInAt) -> tuple[str, str | None]:
    """This server's client at `realm`'s IdP, registered once (RFC 7591) and shared through a 0600 file;
    where no file can be written (a read-only container), registered for this process alone."""
    try:
        return await _shared_registration(config, realm.url)
    except OSError as error:
        logger.warning("approval pages: registration not shared (%s); registering for this process", error)
    entry = await _register(config, realm.url)
    return str(entry["client_id"]), entry.get("client_secret")


async def _shared_registration(config: PagesConfig, issuer_url: str) -> tuple[str, str | None]:
    key = f"{issuer_url} {config.callback_url}"
    path = _registration_file(config)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)  # one registration for all replicas
        known: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if key not in known:
            known[key] = await _register(config, issuer_url)
            staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with os.fdopen(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
                json.dump(known, handle)
            staging.replace(path)
        entry = known[key]
        return str(entry["client_id"]), entry.get("client_secret")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def _register(config: PagesConfig, issuer_url: str) -> dict[str, Any]:
    async with httpx2.AsyncClient(timeout=10.0, follow_redirects=False) as http:
        metadata = (await http.get(f"{issuer_url}/.well-known/openid-configuration")).raise_for_status().json()
        endpoint = metadata.get("registration_endpoint")
        if not isinstance(endpoint, str):
            raise SignInFailed(
                f"{issuer_url} offers no registration: give its [issuer.approvals] client_id and "
                "client_secret_file (or APPROVALS_CLIENT_ID and _SECRET for ISSUER_URL)"
            )
        answer = await http.post(
            endpoint,
            json={
                "client_name": f"supplychain {config.server} approval pages",
                "redirect_uris": [config.callback_url],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": "openid",
            },
        )
        if answer.status_code not in (200, 201):
            raise SignInFailed(f"registration refused (HTTP {answer.status_code})")
        body: dict[str, Any] = answer.json()
        return {"client_id": body["client_id"], "client_secret": body.get("client_secret")}
