"""Settings: one class per server, each with its own environment prefix.

A server reads only its own database credential (`SUPPLYCHAIN_<SERVER>_DATABASE_URL`, or a file named
by `..._DATABASE_URL_FILE`, or its own secrets file written by `supplychain db init`). It never sees
the admin credential or another server's. Unknown variables under a server's prefix are an error at
start-up, so a typo never silently leaves a control at its default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from securemcp.levels import Level
from securemcp.policy import RolePolicy


class SettingsError(ValueError):
    """Configuration that the server refuses to start with."""


def reject_unknown_variables(prefix: str, fields: Iterable[str]) -> None:
    """Stop start-up on a `<prefix>*` environment variable that names no setting: a typo must never
    silently leave a security control at its default."""
    known = {f"{prefix}{name}".upper() for name in fields}
    unknown = sorted(key for key in os.environ if key.upper().startswith(prefix.upper()) and key.upper() not in known)
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def home_dir() -> Path:
    """Local state folder: embedded Postgres, generated secrets, dev keys (`$SUPPLYCHAIN_HOME`)."""
    return Path(os.environ.get("SUPPLYCHAIN_HOME", ".supplychain")).resolve()


def secrets_dir() -> Path:
    """Where `db init` writes one credential file per server (mode 0600)."""
    return home_dir() / "secrets"


def server_dsn_file(server: str) -> Path:
    """The default secrets file that holds `server`'s own database URL."""
    return secrets_dir() / f"{server}.dsn"


DEFAULT_PERSON_CLAIM = "sub"
# Claims that name a token, a client, a time, a tenant or a grant, never one person.
NOT_A_PERSON = frozenset({
    "iss", "aud", "exp", "iat", "nbf", "jti", "azp", "client_id", "scope", "scp", "roles", "groups",
    "tenant_id", "tid", "auth_time", "nonce", "at_hash", "c_hash", "sid", "acr", "amr", "typ", "cnf",
})  # fmt: skip


def check_person_claim(claim: str) -> str:
    """`claim` when it may name a person (`securemcp.identity.principal.person_id`); `ValueError` otherwise."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", claim):
        raise ValueError(f"PERSON_CLAIM {claim!r} is not a claim name (a letter, then letters, digits or '_')")
    if claim in NOT_A_PERSON:
        raise ValueError(f"PERSON_CLAIM {claim!r} names a token, client, time or tenant, not a person")
    return claim


TENANT_HINT = "tenant"  # an approval URL's query parameter naming its tenant (`approval_page_url`)
PAGES_PATH = "/approvals"  # each server's approval pages, beside its MCP endpoint (`securemcp.approvals.pages`)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOOL_PATTERN = r"^[a-z][a-z0-9_]*\*?$"  # a tool name, or a prefix ending in `*`


class DeploymentSettings(BaseSettings):
    """Settings that apply to every server of a deployment: `SUPPLYCHAIN_READ_ONLY`, `SUPPLYCHAIN_TOOLS`,
    `SUPPLYCHAIN_IDEMPOTENCY_TTL_HOURS` (how long an idempotency key answers retries; 1 hour to 7 days),
    `SUPPLYCHAIN_AUDIT_EXPORT` (`stdout` or an absolute file path: the SIEM sink, `securemcp.audit.export`).

    READ_ONLY and TOOLS can only narrow what a server offers. Each is checked when a server starts, so a
    bad value stops start-up instead of failing calls later. `READ_ONLY` is parsed strictly as a boolean: an
    unparseable value stops start-up rather than being read as "false".
    """

    model_config = SettingsConfigDict(env_prefix="SUPPLYCHAIN_", extra="ignore", frozen=True)

    read_only: bool = False
    tools: str | None = Field(default=None, pattern=r"^[a-z0-9_*, ]+$")
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=7 * 24)
    audit_export: str | None = Field(default=None, pattern=r"^(stdout|/.+)$")  # SIEM sink, `securemcp.audit.export`
    # The trusted issuers of every server that names no file of its own (`securemcp.identity.issuers_file`).
    trusted_issuers_file: Path | None = None

    def tool_patterns(self) -> tuple[str, ...] | None:
        """The allow-list as patterns, or None when every tool is allowed."""
        if self.tools is None:
            return None
        patterns = tuple(entry.strip() for entry in self.tools.split(",") if entry.strip())
        bad = [pattern for pattern in patterns if not re.fullmatch(TOOL_PATTERN, pattern)]
        if bad or not patterns:
            raise SettingsError(f"SUPPLYCHAIN_TOOLS: malformed entries {bad or ['(none)']}")
        return patterns


class ServerSettings(BaseSettings):
    """What every server needs. Each server subclasses it with its own `env_prefix` and names, as class
    variables, what the deployment decides: its name, its default port and the role policy."""

    server_name: ClassVar[str] = ""
    default_port: ClassVar[int] = 0
    policy: ClassVar[RolePolicy] = RolePolicy({})  # a deployment's server names its own; this one grants nothing
    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    database_url: SecretStr | None = None
    database_url_file: Path | None = None
    pool_size: int = Field(default=5, ge=1, le=50)
    pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Read-only: side-effecting tools vanish from tools/list and are refused. True here, in
    # SUPPLYCHAIN_READ_ONLY or from `--read-only` wins: nothing can switch it back off.
    read_only: bool = False
    # Raises tools' approval levels, e.g. `{"reroute_shipment": "four_eyes"}` (JSON); checked at start-up
    # by `securemcp.gate.tool_table.register_tools`: an unknown tool, a read-only one or a lower level stops it.
    approval_levels: dict[str, Level] = {}
    allowed_tools: tuple[str, ...] | None = None  # set from SUPPLYCHAIN_TOOLS, not from this prefix
    idempotency_ttl_hours: int = 24  # set from SUPPLYCHAIN_IDEMPOTENCY_TTL_HOURS, not from this prefix
    audit_export: str | None = None  # set from SUPPLYCHAIN_AUDIT_EXPORT, not from this prefix

    # Phase 2 (HTTP): where to listen, who issues tokens, and the transport limits.
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+/mcp$")
    issuer_url: str = Field(default="http://127.0.0.1:8100", pattern=r"^https?://[^\s?#]+$")
    jwks_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # The issuers this server trusts, each bound to its tenants, with its claim mapping: a TOML file
    # (`securemcp.identity.issuers_file`). Unset (and no SUPPLYCHAIN_TRUSTED_ISSUERS_FILE): one issuer,
    # ISSUER_URL (keys at JWKS_URL, else discovered), naming any tenant in its `tenant_id` claim.
    trusted_issuers_file: Path | None = None
    # The JWKS is re-read this often whatever requests arrive: the bound on forgetting a removed key
    # (its cached tokens stop working) and on learning a new one even if no token names it yet.
    key_refresh_seconds: float = Field(default=300.0, ge=1, le=3600)
    revocation: Literal["list", "none"] = "list"
    revocation_staleness_seconds: float = Field(default=5.0, gt=0, le=5.0)
    clock_leeway_seconds: int = Field(default=30, ge=0, le=30)
    allowed_hosts: list[str] = []
    allowed_origins: list[str] = []
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Requests per tenant, counted in this process only: a safety net, not the tenant's limit. With N
    # worker processes (`--workers N`) or N replicas a tenant gets up to N x this figure (2 workers at
    # 600/minute: 1200/minute). The authoritative per-tenant limit is the gateway's, keyed on the
    # verified tenant claim and shared by every gateway node. Keep this at or above the edge's limit
    # over the same period: it never refuses what the edge let through, only traffic around the gateway.
    rate_limit: str = Field(default="600/minute", pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour)s?$")
    max_sessions: int = Field(default=1000, ge=1, le=100_000)
    # 2025-11-25 sessions one tenant, and one user, may hold open at once (securemcp.http.sessions), under MAX_SESSIONS.
    max_sessions_per_tenant: int = Field(default=100, ge=1, le=100_000)
    max_sessions_per_user: int = Field(default=20, ge=1, le=100_000)
    session_idle_timeout_seconds: float = Field(default=1800, gt=0, le=86_400)
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    behind_gateway: bool = False
    # Phase 3: X-Forwarded-For/-Proto are honoured only from these addresses (the gateway's), else never.
    forwarded_allow_ips: str | None = Field(default=None, pattern=r"^[0-9a-fA-F.:]+(,[0-9a-fA-F.:]+)*$")
    # Replicas of one server share this key (32+ random bytes) to seal 2026-07-28 request state, so an
    # approval answered on one replica is accepted by another. Unset: a key of this process only.
    request_state_key: SecretStr | None = None
    request_state_key_file: Path | None = None
    # The approval pages (`securemcp.approvals.pages`): people sign in with OpenID Connect at the issuer
    # bound to the approval's tenant (with a trusted-issuers file), else at `issuer_url`. These client
    # settings are `issuer_url`'s; other issuers' come from their `[issuer.approvals]` table. Without a
    # client id the server registers itself (RFC 7591, the dev IdP); a company IdP gets a client id and
    # secret. The cookie-signing key is derived from the request-state key when one is set (so
    # replicas share it), else read from APPROVALS_SESSION_KEY_FILE, else random per process.
    approvals_client_id: str | None = Field(default=None, pattern=r"^[\x21-\x7e]{1,255}$")
    approvals_client_secret: SecretStr | None = None
    approvals_client_secret_file: Path | None = None
    approvals_session_key_file: Path | None = None
    # The claim that names one person in access tokens and ID tokens alike
    # (`securemcp.identity.principal.person_id`): four eyes and `verified` compare the issuer plus this
    # claim. `sub` unless the IdP issues pairwise subjects per application (Microsoft Entra ID: `oid`).
    # With a trusted-issuers file each issuer's `[issuer.claims] person` says it, and setting this too
    # stops the start.
    person_claim: str = DEFAULT_PERSON_CLAIM

    @field_validator("person_claim")
    @classmethod
    def _person_claim_names_a_person(cls, claim: str) -> str:
        return check_person_claim(claim)

    def issuers_file(self) -> Path | None:
        """This server's trusted-issuers file: its own setting, else the deployment's, else None."""
        return self.trusted_issuers_file or DeploymentSettings().trusted_issuers_file

    def request_state_keys(self) -> list[bytes] | None:
        """The shared request-state key (value, then `_FILE`), or None for a per-process key."""
        if self.request_state_key is not None:
            key = self.request_state_key.get_secret_value().encode()
        elif self.request_state_key_file is not None:
            key = self.request_state_key_file.read_bytes().strip()
        else:
            return None
        if len(key) < 32:
            raise SettingsError("REQUEST_STATE_KEY must hold at least 32 bytes of secret randomness")
        return [key]

    @model_validator(mode="after")
    def _session_caps_nest(self) -> ServerSettings:
        if self.max_sessions_per_user > self.max_sessions_per_tenant:
            raise ValueError("MAX_SESSIONS_PER_USER cannot exceed MAX_SESSIONS_PER_TENANT")
        return self

    @property
    def listen_port(self) -> int:
        """The port to listen on: the configured one, else the server's default (its settings class's)."""
        if self.port is not None:
            return self.port
        if not self.default_port:  # 0 would bind a random port and advertise a resource URL nobody can reach
            raise SettingsError(f"{type(self).__name__} names no default_port: set it, or set PORT")
        return self.default_port

    @property
    def tls(self) -> bool:
        """True when the server terminates TLS itself."""
        return self.tls_certfile is not None and self.tls_keyfile is not None

    @property
    def resource_url(self) -> str:
        """This server's canonical resource URL (RFC 8707): the `aud` its tokens must carry."""
        if self.public_url is not None:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104 (we name it, not bind it)
        return f"{'https' if self.tls else 'http'}://{host}:{self.listen_port}/mcp"

    def check_http_exposure(self) -> None:
        """Refuse plain HTTP on a non-loopback address unless a TLS-terminating gateway is in front."""
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise SettingsError("set both TLS_CERTFILE and TLS_KEYFILE, or neither")
        if self.host not in LOOPBACK_HOSTS and not self.tls and not self.behind_gateway:
            raise SettingsError(
                f"refusing plain HTTP on {self.host}: give a TLS certificate (see `supplychain dev-certs`) "
                "or set BEHIND_GATEWAY=true when a TLS-terminating gateway is in front"
            )

    def __init__(self, **values: Any) -> None:
        self._reject_unknown_variables()
        deployment = DeploymentSettings()
        if deployment.read_only:
            values["read_only"] = True
        values["allowed_tools"] = deployment.tool_patterns()
        values["idempotency_ttl_hours"] = deployment.idempotency_ttl_hours
        values.setdefault("audit_export", deployment.audit_export)
        super().__init__(**values)

    def offers_tool(self, name: str, *, side_effect: bool) -> str | None:
        """None when this deployment offers tool `name`; otherwise why it does not."""
        if side_effect and self.read_only:
            return f"{name} is not available: this server runs read-only"
        if self.allowed_tools is not None and not any(
            name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1]))
            for pattern in self.allowed_tools
        ):
            return f"{name} is not enabled on this server (SUPPLYCHAIN_TOOLS)"
        return None

    @classmethod
    def _reject_unknown_variables(cls) -> None:
        prefix = str(cls.model_config.get("env_prefix", ""))
        if prefix:
            deployment_wide = ("allowed_tools", "audit_export")
            reject_unknown_variables(prefix, [name for name in cls.model_fields if name not in deployment_wide])

    def resolved_database_url(self) -> str:
        """This server's own DSN: explicit value, then `_FILE`, then its secrets file from `db init`."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        path = self.database_url_file or server_dsn_file(self.server_name)
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise SettingsError(
                f"no database credential for {self.server_name}: run `supplychain db init`, or set "
                f"{self.model_config.get('env_prefix', '')}DATABASE_URL or ..._DATABASE_URL_FILE"
            ) from None


def approval_url(settings: ServerSettings, approval_id: str | None = None, *, tenant: str | None = None) -> str:
    """The approval page of `settings`' server: the list, or one approval's page (of `tenant`).

    Derived from the server's public resource URL (`.../mcp`), so behind the gateway it is
    `https://<gateway>/<server>/approvals/...`.
    """
    base = settings.resource_url.removesuffix("/mcp") + PAGES_PATH
    return base if approval_id is None else approval_page_url(base, approval_id, tenant)


def approval_page_url(pages_url: str, approval_id: str, tenant: str | None) -> str:
    """One approval's page under `pages_url`, naming its tenant (`?tenant=`) when known.

    The tenant is a hint for home-realm discovery only: the page signs the person in at the IdP bound to
    it. Who is signed in, and so which tenant's approvals can be seen, is decided by that IdP's ID token.
    """
    page = f"{pages_url}/{approval_id}"
    return page if tenant is None else f"{page}?{TENANT_HINT}={tenant}"
