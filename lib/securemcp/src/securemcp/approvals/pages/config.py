"""Where a server's approval pages live and what they sign cookies with.

Guarantees:
- the pages' public address follows the server's own: `<origin>/approvals` in phases 1 and 2, and
  `https://<gateway>/<server>/approvals` behind the gateway (from `PUBLIC_URL`, never from a request
  header), so links, the sign-in callback and the cookie path are right wherever the request came from;
- the session cookie is `Secure` whenever that address is https, and its path is the pages' path only;
- the cookie-signing key is secret, per server, shared by a server's replicas (through the request-state
  key) and never logged;
- home-realm discovery: a person is sent to sign in at the issuer bound to the approval's tenant (named by
  the page's URL, a hint only), else at ISSUER_URL; each issuer has its own client (`[issuer.approvals]` in
  the issuers file, ISSUER_URL's from APPROVALS_CLIENT_ID / _SECRET, else registered at the IdP).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from securemcp.approvals.pending import ApprovalSettings
from securemcp.identity.issuers import TrustedIssuer, TrustedIssuers, issuer_for_any_tenant
from securemcp.identity.issuers_file import read_pages_secret, sign_in_issuer, trusted_issuers_of
from securemcp.policy import RolePolicy
from securemcp.settings import ServerSettings, SettingsError, approval_url


@dataclass(frozen=True)
class SignInAt:
    """One issuer the pages sign people in at, and the pages' client there (no id: registered at first use)."""

    issuer: TrustedIssuer
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The issuer URL (compared byte for byte with the ID token's `iss`)."""
        return self.issuer.issuer


@dataclass(frozen=True)
class PagesConfig:
    """One server's approval pages: public address, sign-in client, freshness bound, cookie key."""

    server: str
    base_url: str  # e.g. http://127.0.0.1:8104/approvals, or https://gw:8443/payments/approvals
    issuer_url: str
    client_id: str | None
    client_secret: str | None
    max_sign_in_age: timedelta
    session_key: bytes
    policy: RolePolicy  # the deployment's: what a signed-in person's roles allow on this page
    # The sign-in issuer's claim mapping and tenants: ID tokens are read as its access tokens are
    # (None: ISSUER_URL alone, for any tenant named by `tenant_id`, the person by `sub`).
    issuer: TrustedIssuer | None = None
    # Every issuer people may sign in at, ISSUER_URL's among them (empty: ISSUER_URL's alone).
    realms: tuple[SignInAt, ...] = ()

    @property
    def sign_ins(self) -> tuple[SignInAt, ...]:
        """Every issuer people may sign in at (without `realms`: ISSUER_URL with the client fields above)."""
        if self.realms:
            return self.realms
        return (SignInAt(self.issuer or issuer_for_any_tenant(self.issuer_url), self.client_id, self.client_secret),)

    @property
    def home(self) -> SignInAt:
        """ISSUER_URL's sign-in: where a person goes when the URL names no tenant, or one no issuer is bound to."""
        return self.realm_at(self.issuer_url) or self.sign_ins[0]

    def realm_at(self, issuer_url: object) -> SignInAt | None:
        """The sign-in at exactly `issuer_url`, or None."""
        return next((realm for realm in self.sign_ins if realm.url == issuer_url), None)

    def sign_in_for(self, tenant: str | None) -> SignInAt:
        """Home-realm discovery: the sign-in at the issuer bound to `tenant`, else ISSUER_URL's.

        `tenant` comes from a URL, so it only chooses where to sign in: the tenant of the session is the one
        the signing issuer decides (`securemcp.approvals.pages.signin`).
        """
        if tenant is not None:
            for realm in self.sign_ins:
                if realm.issuer.tenants is not None and tenant in realm.issuer.tenants:
                    return realm
        return self.home

    @property
    def cookie_path(self) -> str:
        """The session cookie's Path: the pages only, never the MCP endpoint beside them."""
        return urlsplit(self.base_url).path

    @property
    def secure(self) -> bool:
        """True when the pages are reached over TLS (the cookie then gets `Secure`)."""
        return self.base_url.startswith("https://")

    @property
    def callback_url(self) -> str:
        """The OpenID Connect redirect URI."""
        return f"{self.base_url}/auth/callback"

    def url(self, path: str = "") -> str:
        """An absolute URL of the pages (`path` starts with '/' or is empty)."""
        return f"{self.base_url}{path}"


def pages_base_url(settings: ServerSettings) -> str:
    """The public address of `settings`' approval pages (what `securemcp.settings.approval_url` links to)."""
    return approval_url(settings)


def pages_config(settings: ServerSettings, trusted: TrustedIssuers | None = None) -> PagesConfig:
    """The pages' configuration from the server's settings (reads or makes the cookie key); `trusted` are the
    server's trusted issuers (default: read them from `settings`), each one a place to sign in."""
    if trusted is None:
        trusted = trusted_issuers_of(settings)
    issuer = sign_in_issuer(settings, trusted)
    secret = settings.approvals_client_secret
    if secret is None and settings.approvals_client_secret_file is not None:
        secret_text: str | None = settings.approvals_client_secret_file.read_text(encoding="utf-8").strip()
    else:
        secret_text = secret.get_secret_value() if secret is not None else None
    if secret_text is not None and settings.approvals_client_id is None:
        raise SettingsError("APPROVALS_CLIENT_SECRET is set but APPROVALS_CLIENT_ID is not")
    if issuer.approvals is not None and settings.approvals_client_id is not None:
        raise SettingsError(f"{settings.issuers_file()}: ISSUER_URL's [issuer.approvals] and APPROVALS_CLIENT_ID both "
                            "name the pages' client there: keep one")  # fmt: skip
    realms = tuple(
        SignInAt(listed, settings.approvals_client_id, secret_text)
        if listed is issuer and listed.approvals is None
        else _sign_in_at(listed)
        for listed in trusted
    )
    return PagesConfig(
        server=settings.server_name,
        base_url=pages_base_url(settings),
        issuer_url=settings.issuer_url,
        client_id=settings.approvals_client_id,
        client_secret=secret_text,
        # The same bound `securemcp.approvals.decisions.decide` enforces: the IdP is asked for no older a sign-in.
        max_sign_in_age=timedelta(seconds=ApprovalSettings().approval_sign_in_max_age_seconds),
        session_key=session_key(settings),
        policy=settings.policy,
        issuer=issuer,
        realms=realms,
    )


def _sign_in_at(issuer: TrustedIssuer) -> SignInAt:
    """The pages' client at `issuer` from its `[issuer.approvals]` table (none: registered at first sign-in)."""
    if issuer.approvals is None:
        return SignInAt(issuer)
    secret_file = issuer.approvals.client_secret_file
    secret = read_pages_secret(secret_file) if secret_file is not None else None
    if secret == "":
        raise SettingsError(f"{secret_file}: the approval pages' client secret for {issuer.issuer} cannot be read")
    return SignInAt(issuer, issuer.approvals.client_id, secret)


def session_key(settings: ServerSettings) -> bytes:
    """The key that signs the pages' session cookies.

    Derived from the request-state key when one is configured (a server's replicas and workers already
    share it; a distinct label keeps the two uses apart), else read from `APPROVALS_SESSION_KEY_FILE`,
    else one random key per process (sessions then end when the process does, as sealed request state does).
    """
    shared_keys = settings.request_state_keys()
    if shared_keys is not None:
        return hmac.new(shared_keys[0], b"supplychain approval pages session v1", hashlib.sha256).digest()
    if settings.approvals_session_key_file is not None:
        key = settings.approvals_session_key_file.read_bytes().strip()
        if len(key) < 32:
            raise SettingsError("APPROVALS_SESSION_KEY_FILE must hold at least 32 bytes of secret randomness")
        return key
    return secrets.token_bytes(32)
