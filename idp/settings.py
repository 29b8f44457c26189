"""Settings of the dev authorization server (`SUPPLYCHAIN_IDP_*`).

Guarantees: the issuer is an absolute http(s) URL without a trailing slash, query or fragment; every
server has exactly one canonical resource URL (RFC 8707) and no two servers share one; access tokens
live 5 to 15 minutes; the server binds to loopback unless `allow_remote` says otherwise; client
metadata documents are fetched from public addresses only unless `cimd_allow_private` says otherwise;
each enterprise IdP (`enterprise_idps`, whose ID-JAGs `idp.id_jag` accepts) speaks for exactly one tenant,
no issuer is listed twice and no tenant is bound to two issuers. Unknown `SUPPLYCHAIN_IDP_*` variables (and
unknown keys in an enterprise IdP's entry) are refused, so a typo never leaves a setting at its default.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from securemcp.identity.keys import ALLOWED_ALGORITHMS
from securemcp.settings import home_dir, reject_unknown_variables

from deployment.registry import IDP_PORT, SERVERS, loopback_resources
from fixtures.tenants import TENANTS

ENV_PREFIX = "SUPPLYCHAIN_IDP_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = IDP_PORT
DEFAULT_RESOURCES = loopback_resources(IDP_PORT)


def base_port_overrides(base_port: int | None) -> dict[str, Any]:
    """The settings of the IdP in a loopback stack moved to `base_port` (`--base-port`), or none.

    Its port is the base and each server's resource URL sits at its registry distance from it, as
    `supplychain serve --base-port` places the servers: the tokens it issues name the audiences they serve.
    """
    if base_port is None:
        return {}
    return {"port": base_port, "resources": loopback_resources(base_port)}


def idp_dir() -> Path:
    """The dev authorization server's local state: `$SUPPLYCHAIN_HOME/idp`."""
    return home_dir() / "idp"


def private_dir(path: Path) -> Path:
    """Create `path` readable by this user only; directories it creates on the way get the same mode."""
    for directory in reversed([p for p in (path, *path.parents) if not p.exists()]):
        directory.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    return path


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{what} must be an absolute http(s) URL without query or fragment, got {url!r}")
    return url


def is_signing_key(entry: object) -> bool:
    """A public RSA or EC key whose `alg`, if it names one, is allowed (RS256, ES256): what an enterprise
    IdP's JWKS may hold. Never a symmetric ("oct") key, with which an HS256 assertion would verify."""
    if not isinstance(entry, dict) or "d" in entry or entry.get("kty") not in {"RSA", "EC"}:
        return False
    return entry.get("alg") is None or entry.get("alg") in ALLOWED_ALGORITHMS


class EnterpriseIdp(BaseModel):
    """A company's identity provider whose ID-JAGs (SEP-990) this server accepts, for one tenant only.

    Its keys come from `jwks_url` (https, or http on loopback for development) or inline `jwks`: exactly one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str
    tenant: str
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, issuer: str) -> str:
        return _check_url(issuer, "enterprise issuer")

    @field_validator("tenant")
    @classmethod
    def _check_tenant(cls, tenant: str) -> str:
        if tenant not in TENANTS:  # the dev IdP knows the people of its fixture tenants only
            raise ValueError(f"unknown tenant {tenant!r}; tenants: {', '.join(TENANTS)}")
        return tenant

    @field_validator("jwks_url")
    @classmethod
    def _check_jwks_url(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(_check_url(url, "jwks_url"))
            if parts.scheme != "https" and not is_loopback_host(parts.hostname or ""):
                raise ValueError(f"jwks_url must be https (or http on loopback), got {url!r}")
        return url

    @field_validator("jwks")
    @classmethod
    def _check_jwks(cls, jwks: dict[str, Any] | None) -> dict[str, Any] | None:
        if jwks is not None:
            keys = jwks.get("keys")
            if not isinstance(keys, list) or not keys or any(not isinstance(k, dict) or "d" in k for k in keys):
                raise ValueError("jwks must be {'keys': [...]} with public keys only")
            if any(not is_signing_key(k) for k in keys):  # an "oct" key would let HS256 assertions verify
                raise ValueError("jwks may hold only RSA and EC keys (for RS256 and ES256)")
            try:  # a malformed key is refused at start, not at the first token
                KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # checked: a dict with a "keys" list
            except JoseError as exc:
                raise ValueError(f"jwks holds a key that cannot be used: {exc.error}") from None
        return jwks

    @model_validator(mode="after")
    def _one_key_source(self) -> EnterpriseIdp:
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError(f"enterprise issuer {self.issuer!r}: give exactly one of jwks_url and jwks")
        return self


class IdpSettings(BaseSettings):
    """Issuer, listening address, token lifetime and every registered server's resource URL."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # Fixture users with published passwords log in here: reachable from the network only on purpose.
    allow_remote: bool = False
    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    # Defaults to http://<host>:<port>, so `idp serve --port 8200` still names itself correctly.
    issuer: str = ""
    access_token_ttl_seconds: int = Field(default=600, ge=300, le=900)
    resources: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    # Client ID Metadata Documents (idp.cimd). DEV ONLY: fetch documents from loopback/private addresses.
    cimd_allow_private: bool = False
    cimd_ca_file: Path | None = None  # extra CA for documents served with a dev certificate
    cimd_timeout_seconds: float = Field(default=5.0, gt=0, le=10)
    cimd_max_bytes: int = Field(default=5120, ge=512, le=65536)
    cimd_cache_seconds: int = Field(default=300, ge=0, le=86400)
    # Fetches in flight at once, overall and per client id: anyone can name a slow server as client_id.
    cimd_max_fetches: int = Field(default=8, ge=1, le=64)
    cimd_max_fetches_per_client: int = Field(default=1, ge=1, le=8)
    # Enterprise-managed authorization (SEP-990): the company IdPs whose ID-JAGs are accepted, one tenant each.
    enterprise_idps: list[EnterpriseIdp] = Field(default_factory=list)

    def __init__(self, **values: Any) -> None:
        reject_unknown_variables(ENV_PREFIX, type(self).model_fields)
        super().__init__(**values)

    @model_validator(mode="before")
    @classmethod
    def _default_issuer(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("issuer"):
            host = values.get("host", DEFAULT_HOST)
            port = values.get("port", DEFAULT_PORT)
            values = {**values, "issuer": f"http://{host}:{port}"}
        return values

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, issuer: str) -> str:
        _check_url(issuer, "issuer")
        if issuer.endswith("/"):
            raise ValueError(f"issuer must not end with '/', got {issuer!r}")
        return issuer

    @field_validator("resources")
    @classmethod
    def _check_resources(cls, resources: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(resources) - set(SERVERS))
        if unknown:
            raise ValueError(f"unknown server(s) {', '.join(unknown)} in resources; servers: {', '.join(SERVERS)}")
        merged = {**DEFAULT_RESOURCES, **resources}
        for server, url in merged.items():
            _check_url(url, f"resource of {server}")
        if len(set(merged.values())) != len(merged):
            raise ValueError("two servers share a resource URL: a token's audience would be ambiguous")
        return merged

    @model_validator(mode="after")
    def _check_enterprise_idps(self) -> IdpSettings:
        issuers = [idp.issuer for idp in self.enterprise_idps]
        tenants = [idp.tenant for idp in self.enterprise_idps]
        for issuer in issuers:
            if issuers.count(issuer) > 1:
                raise ValueError(f"enterprise issuer {issuer!r} is listed twice")
        for tenant in tenants:
            if tenants.count(tenant) > 1:  # one issuer per tenant: two would both speak for its people
                raise ValueError(f"tenant {tenant!r} is bound to two enterprise issuers")
        if self.issuer in issuers:
            raise ValueError("an enterprise issuer cannot be this authorization server itself")
        return self

    def enterprise_idp(self, issuer: str) -> EnterpriseIdp | None:
        """The configured enterprise IdP whose issuer is exactly `issuer`, if any."""
        return next((idp for idp in self.enterprise_idps if idp.issuer == issuer), None)

    @field_validator("host")
    @classmethod
    def _check_exposure(cls, host: str, info: ValidationInfo) -> str:
        if not info.data.get("allow_remote") and not is_loopback_host(host):
            raise ValueError(f"{host!r} is not loopback; set {ENV_PREFIX}ALLOW_REMOTE=true to mean it")
        return host

    def server_for_resource(self, resource: str) -> str | None:
        """The server whose canonical resource URL is exactly `resource`, if any."""
        for server, url in self.resources.items():
            if url == resource:
                return server
        return None

    def url(self, path: str) -> str:
        """An absolute URL on this issuer."""
        return f"{self.issuer}{path}"
