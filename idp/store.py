"""What the dev authorization server remembers between requests: in memory, except revocations.

Guarantees:
- an authorization code is good once, for 60 s, for the client it was issued to; presenting a used
  code again revokes everything issued from it (RFC 6749 §4.1.2);
- refresh tokens rotate: each is good once; presenting a used one revokes its whole family (every
  refresh and access token descended from the same authorization), since one of the two presenters
  must be a thief (OAuth 2.1 §4.3.1);
- refresh tokens are kept only as SHA-256 digests, so a memory dump does not yield usable tokens;
- the revocation list holds the `jti` of every revoked access token until that token expires; it is
  kept on disk (`idp.revocations`), so a restart does not revive revoked tokens (codes and refresh
  tokens are memory only: a restart ends them all);
- a refresh token issued before its client was revoked (`idp.revocations.revoke_client_tokens`) is dead.

Everything runs on the server's event loop, so no operation interleaves with another: no locks.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin

from idp.revocations import RevocationStore
from idp.tokens import new_grant_id

CODE_TTL_SECONDS = 60
REFRESH_TOKEN_TTL_SECONDS = 8 * 3600


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    """A code issued after consent: who, which client, which scopes, which resources, which PKCE challenge."""

    code: str
    client_id: str
    user_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]  # empty: the authorization request named no resource, any server may be asked
    code_challenge: str
    code_challenge_method: str
    auth_time: int  # when the user typed their password (the login session's), for the ID token
    nonce: str | None = None  # OIDC: echoed in the ID token
    expires_at: float = field(default_factory=lambda: time.time() + CODE_TTL_SECONDS)
    used: bool = False
    family_id: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return " ".join(self.scopes)

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass
class RefreshToken(TokenMixin):
    """One refresh token (by digest) of a family: the scopes and resources the user consented to."""

    digest: str
    family_id: str
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    expires_at: float
    issued_at: float = field(default_factory=time.time)
    used: bool = False
    revoked: bool = False

    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.client_id

    def get_scope(self) -> str:
        return " ".join(self.scopes)

    def get_expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self) -> bool:
        return self.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked or self.used


@dataclass
class Family:
    """Everything issued from one authorization: refresh token digests and access token ids with expiry."""

    refresh_digests: set[str] = field(default_factory=set)
    access_jtis: dict[str, int] = field(default_factory=dict)


class IdpState:
    """Codes, refresh token families and revoked token ids."""

    def __init__(self, revocations: RevocationStore | None = None) -> None:
        self.codes: dict[str, AuthorizationCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.families: dict[str, Family] = {}
        self.revocations = revocations or RevocationStore()
        self._purged_at = 0.0

    # Authorization codes

    def save_code(self, code: AuthorizationCode) -> None:
        """Remember a freshly issued code."""
        self._purge()
        self.codes[code.code] = code

    def find_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The unused, unexpired code issued to `client_id`; a used one revokes what it produced."""
        found = self.codes.get(code)
        if found is None or found.client_id != client_id or found.expires_at <= time.time():
            return None
        if found.used:
            if found.family_id is not None:
                self.revoke_family(found.family_id)
            return None
        return found

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        """True when a live code of `client_id` already carries `nonce` (an OIDC replay)."""
        return any(code.client_id == client_id and code.nonce == nonce for code in self.codes.values())

    def use_code(self, code: AuthorizationCode, family_id: str) -> None:
        """Mark a code spent (kept until it expires, so a replay is recognised)."""
        code.used = True
        code.family_id = family_id

    # Refresh tokens and families

    def new_family(self) -> str:
        """A new family id for a fresh authorization: the grant id its tokens carry."""
        family_id = new_grant_id()
        self.families[family_id] = Family()
        return family_id

    def issue_refresh_token(
        self, *, family_id: str, client_id: str, user_id: str, scopes: tuple[str, ...], resources: tuple[str, ...]
    ) -> str:
        """A new refresh token in `family_id`; only its digest is kept."""
        token = secrets.token_urlsafe(32)
        record = RefreshToken(
            digest=_digest(token),
            family_id=family_id,
            client_id=client_id,
            user_id=user_id,
            scopes=scopes,
            resources=resources,
            expires_at=time.time() + REFRESH_TOKEN_TTL_SECONDS,
        )
        self.refresh_tokens[record.digest] = record
        self.revocations.record_refresh_token(
            record.digest, grant_id=family_id, client_id=client_id, subject=user_id, expires_at=int(record.expires_at)
        )
        self.families.setdefault(family_id, Family()).refresh_digests.add(record.digest)
        return token

    def find_refresh_token(self, token: str) -> RefreshToken | None:
        """The refresh token record, whatever its state (for revocation and introspection)."""
        return self.refresh_tokens.get(_digest(token))

    def redeem_refresh_token(self, token: str) -> RefreshToken | None:
        """The record if the token may be used now; a reused token revokes its family and yields None."""
        record = self.find_refresh_token(token)
        if record is None or record.revoked or record.is_expired():
            return None
        if self.revocations.is_grant_revoked(record.family_id):  # revoked by another process (`incident`)
            return None
        client_revoked_at = self.revocations.client_revoked_at(record.client_id)
        if client_revoked_at is not None and record.issued_at <= client_revoked_at:
            return None
        if record.used:
            self.revoke_family(record.family_id)
            return None
        return record

    def record_access_token(
        self, family_id: str | None, jti: str, expires_at: int, *, client_id: str, grant_id: str, subject: str
    ) -> None:
        """Record an access token as issued, and its family, so revoking the family, grant or client revokes it."""
        self.revocations.record_issued(jti, client_id, expires_at, grant_id=grant_id, subject=subject)
        if family_id is not None:
            self.families.setdefault(family_id, Family()).access_jtis[jti] = expires_at

    def revoke_family(self, family_id: str) -> None:
        """Revoke every refresh and access token issued from one authorization."""
        family = self.families.get(family_id)
        if family is None:
            return
        for digest in family.refresh_digests:
            if digest in self.refresh_tokens:
                self.refresh_tokens[digest].revoked = True
        self.revocations.revoke_many(family.access_jtis)
        self.revocations.revoke_grants([family_id])  # published: servers void what the grant asked for

    # Access token revocation

    def revoke_access_token(self, jti: str, expires_at: int) -> None:
        """Put an access token on the revocation list until it expires."""
        self.revocations.revoke(jti, expires_at)

    def is_revoked(self, jti: str) -> bool:
        """True when the access token with this id is revoked."""
        return self.revocations.is_revoked(jti)

    def revocation_list(self) -> list[str]:
        """The ids of revoked access tokens that have not expired yet."""
        self._purge()
        return self.revocations.revoked_jtis()

    def revoked_grants(self) -> list[str]:
        """The ids of revoked grants that could still have live tokens or pending requests."""
        return sorted(self.revocations.revoked_grants())

    def _purge(self) -> None:
        # At most once a second: the revocation list is polled every second by each server.
        now = time.time()
        if now - self._purged_at < 1:
            return
        self._purged_at = now
        self.codes = {key: code for key, code in self.codes.items() if code.expires_at > now}
        self.refresh_tokens = {d: record for d, record in self.refresh_tokens.items() if record.expires_at > now}
        for family_id, family in list(self.families.items()):
            family.refresh_digests &= self.refresh_tokens.keys()
            family.access_jtis = {jti: exp for jti, exp in family.access_jtis.items() if exp > now}
            if not family.refresh_digests and not family.access_jtis:
                del self.families[family_id]
