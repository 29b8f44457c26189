"""Where a server's approval pages live and what they sign cookies with.

Guarantees:
- the pages' public address follows the server's own: `<origin>/approvals` in phases 1 and 2, and
  `https://<gateway>/<server>/approvals` behind the gateway (from `PUBLIC_URL`, never from a request
  header), so links, the sign-in callback and the cookie path are right wherever the request came from;
- the session cookie is `Secure` whenever that address is https, and its path is the pages' path only;
- the cookie-signing key is secret, per server, shared by a server's replicas (through the request-state
  key) and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from securemcp.approvals.pending import ApprovalSettings
from securemcp.identity.issuers import TrustedIssuer
from securemcp.identity.issuers_file import sign_in_issuer, trusted_issuers_of
from securemcp.policy import RolePolicy
from securemcp.settings import ServerSettings, SettingsError, approval_url


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


def pages_config(settings: ServerSettings, issuer: TrustedIssuer | None = None) -> PagesConfig:
    """The pages' configuration from the server's settings (reads or makes the cookie key); `issuer` is the
    sign-in issuer from the server's trusted issuers (default: read them from `settings`)."""
    if issuer is None:
        issuer = sign_in_issuer(settings, trusted_issuers_of(settings))
    secret = settings.approvals_client_secret
    if secret is None and settings.approvals_client_secret_file is not None:
        secret_text: str | None = settings.approvals_client_secret_file.read_text(encoding="utf-8").strip()
    else:
        secret_text = secret.get_secret_value() if secret is not None else None
    if secret_text is not None and settings.approvals_client_id is None:
        raise SettingsError("APPROVALS_CLIENT_SECRET is set but APPROVALS_CLIENT_ID is not")
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
    )


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
