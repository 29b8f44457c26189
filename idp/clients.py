"""OAuth clients of the dev authorization server.

Four kinds:
- *service clients* (confidential, `client_credentials` only), made by `supplychain idp add-client`,
  bound to one tenant and a set of roles, persisted in `$SUPPLYCHAIN_HOME/idp/clients.json` (0600)
  with only a hash of their secret; their `client_id` has the form `name-xxxxxxxx@tenant`, so as a
  token subject it is a well-formed user id of that tenant;
- *sign-in clients* (confidential, authorization code only), made by `add_sign_in_client` for pages
  that sign people in with OpenID Connect (the approval pages), persisted in the same file;
- *agent clients* (confidential, the jwt-bearer grant only), made by `add_agent_client` for agents that
  present their users' enterprise ID-JAGs (`idp.id_jag`), persisted in the same file; bound to no tenant:
  the tenant of each token comes from the issuer of the ID-JAG;
- *dynamic clients* registered through RFC 7591 (Claude Desktop, the MCP Inspector), appended to
  `$SUPPLYCHAIN_HOME/idp/registered_clients.jsonl` (0600, secrets as hashes), so a restart keeps them;
  they use the authorization code flow only, so every token they get is a user's, after consent.

A client can be *disabled* (`disable_client`, run by `supplychain incident token <client_id>`): it then
authenticates with nothing and gets no token until an admin rotates its secret (`rotate_client_secret`),
which enables it again with a new secret (and so a new client-credentials grant, `idp.tokens.client_grant_id`).

Guarantees: redirect URIs match exactly; a secret is compared in constant time against its hash; a
public client can authenticate only as public, a confidential one only with its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from securemcp.identity.principal import TENANT_ID_PATTERN, USER_ID_PATTERN

from deployment.policy import scopes_for_roles
from idp.settings import idp_dir, is_loopback_host, private_dir

CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_DYNAMIC_CLIENTS = 10_000
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,47}$")


def clients_file() -> Path:
    """Where service clients are persisted."""
    return idp_dir() / "clients.json"


def hash_secret(secret: str) -> str:
    """The stored form of a client secret.

    The secrets are 256 random bits, so a fast hash suffices: there is nothing to guess, and a slow
    password hash would only slow down every token request.
    """
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Client(ClientMixin):
    """A registered client and what it may do."""

    client_id: str
    client_name: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    secret_hash: str | None = None
    tenant_id: str | None = None  # service clients only
    roles: tuple[str, ...] = ()  # service clients only
    client_id_issued_at: int = 0
    disabled: bool = False  # after an incident: no authentication, no token, until the secret is rotated

    @property
    def is_public(self) -> bool:
        """True for a client without a secret (`token_endpoint_auth_method: none`)."""
        return self.secret_hash is None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous default: with several registered URIs the request must name one.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        # Unknown scopes are refused earlier (server.validate_requested_scope); roles narrow later.
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.disabled or self.secret_hash is None:
            return False
        return hmac.compare_digest(hash_secret(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.disabled:  # a public client has no secret to refuse: refuse its authentication itself
            return False
        return method == "none" if self.is_public else method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == JWT_BEARER_GRANT_TYPE and self.is_public:  # SEP-990: confidential clients only
            return False
        return not self.disabled and grant_type in self.grant_types


def acceptable_redirect_uri(uri: object) -> bool:
    """https anywhere, or http on loopback; no fragment, no userinfo."""
    if not isinstance(uri, str) or len(uri) > 2000:
        return False
    parts = urlsplit(uri)
    if parts.fragment or parts.username or parts.password or not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))


class ClientRegistry:
    """Service and sign-in clients from the clients file, and dynamic clients from the registrations file.

    Both files are re-read when they change, so a client added by another process (`add-client`, a
    second server in the same home) or before a restart is known.
    """

    def __init__(self, path: Path | None = None, registrations: Path | None = None) -> None:
        self.path = path or clients_file()
        self.registrations = registrations or registrations_file()
        self._files: dict[Path, tuple[tuple[int, int] | None, dict[str, Client]]] = {}

    def get(self, client_id: str) -> Client | None:
        """The client with this id, if registered."""
        return self._dynamic_clients().get(client_id) or self._service_clients().get(client_id)

    def add_dynamic(self, client: Client) -> None:
        """Register a client from RFC 7591 registration (appended to the registrations file)."""
        if len(self._dynamic_clients()) >= MAX_DYNAMIC_CLIENTS:
            raise OverflowError(f"too many dynamically registered clients; delete {self.registrations}")
        private_dir(self.registrations.parent)
        line = json.dumps(asdict(client)) + "\n"
        fd = os.open(self.registrations, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # one short append: never a half line
            handle.write(line)

    def _service_clients(self) -> dict[str, Client]:
        return self._read(self.path, load_service_clients)

    def _dynamic_clients(self) -> dict[str, Client]:
        return self._read(self.registrations, load_registered_clients)

    def _read(self, path: Path, load: Callable[[Path], dict[str, Client]]) -> dict[str, Client]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._files.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, load(path))
            self._files[path] = cached
        return cached[1]


def registrations_file() -> Path:
    """Where dynamically registered clients are kept: one JSON object a line."""
    return idp_dir() / "registered_clients.jsonl"


def load_registered_clients(path: Path) -> dict[str, Client]:
    """The dynamically registered clients in `path` by client id."""
    clients = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            client = _client(json.loads(line))
            clients[client.client_id] = client
    return clients


def _client(entry: dict[str, Any]) -> Client:
    return Client(
        **{
            **entry,
            "grant_types": tuple(entry["grant_types"]),
            "roles": tuple(entry.get("roles", ())),
            "redirect_uris": tuple(entry.get("redirect_uris", ())),
        }
    )


def load_service_clients(path: Path) -> dict[str, Client]:
    """The service and sign-in clients in `path` by client id."""
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")).get("clients", [])
    return {entry["client_id"]: _client(entry) for entry in entries}


def add_service_client(*, name: str, tenant: str, roles: list[str], path: Path | None = None) -> tuple[Client, str]:
    """Register a confidential client-credentials client for `tenant` with `roles`; return it and its secret.

    The secret is returned once and stored only as a hash. Raises `ValueError` on a bad name, tenant or role.
    """
    path = path or clients_file()
    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"client name {name!r}: 1-48 letters, digits, spaces, '.', '_' or '-'")
    if not TENANT_ID_PATTERN.fullmatch(tenant):
        raise ValueError(f"malformed tenant id {tenant!r}")
    if not roles:
        raise ValueError("a service client needs at least one role")
    scopes_for_roles(roles)  # raises UnknownRoleError (a ValueError) naming the bad role
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "client"
    client_id = f"{slug}-{secrets.token_hex(4)}@{tenant}"
    if not USER_ID_PATTERN.fullmatch(client_id):  # it becomes the tokens' `sub`: must read as a user id
        raise ValueError(f"client name {name!r} does not make a valid client id")
    secret = secrets.token_urlsafe(32)
    client = Client(
        client_id=client_id,
        client_name=name,
        token_endpoint_auth_method=CONFIDENTIAL_AUTH_METHODS[0],
        grant_types=("client_credentials",),
        secret_hash=hash_secret(secret),
        tenant_id=tenant,
        roles=tuple(sorted(set(roles))),
        client_id_issued_at=int(time.time()),
    )
    _append(path, client)
    return client, secret


def add_sign_in_client(*, name: str, redirect_uris: list[str], path: Path | None = None) -> tuple[Client, str]:
    """Register a confidential OpenID Connect client (code + PKCE) that survives restarts; return it and its secret.

    The secret is returned once and stored only as a hash. Raises `ValueError` on a bad name or redirect URI
    (https, or http on loopback, as for dynamic registration).
    """
    path = path or clients_file()
    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"client name {name!r}: 1-48 letters, digits, spaces, '.', '_' or '-'")
    if not redirect_uris or not all(acceptable_redirect_uri(uri) for uri in redirect_uris):
        raise ValueError("redirect URIs must be https, or http on a loopback address")
    secret = secrets.token_urlsafe(32)
    client = Client(
        client_id=f"signin-{secrets.token_hex(12)}",
        client_name=name,
        token_endpoint_auth_method=CONFIDENTIAL_AUTH_METHODS[0],
        grant_types=("authorization_code",),
        redirect_uris=tuple(redirect_uris),
        secret_hash=hash_secret(secret),
        client_id_issued_at=int(time.time()),
    )
    _append(path, client)
    return client, secret


def add_agent_client(*, name: str, path: Path | None = None) -> tuple[Client, str]:
    """Register a confidential client that presents enterprise ID-JAGs (jwt-bearer grant); return it and its secret.

    The secret is returned once and stored only as a hash. Raises `ValueError` on a bad name.
    """
    path = path or clients_file()
    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"client name {name!r}: 1-48 letters, digits, spaces, '.', '_' or '-'")
    secret = secrets.token_urlsafe(32)
    client = Client(
        client_id=f"agent-{secrets.token_hex(12)}",
        client_name=name,
        token_endpoint_auth_method=CONFIDENTIAL_AUTH_METHODS[0],
        grant_types=(JWT_BEARER_GRANT_TYPE,),
        secret_hash=hash_secret(secret),
        client_id_issued_at=int(time.time()),
    )
    _append(path, client)
    return client, secret


def _append(path: Path, client: Client) -> None:
    existing = json.loads(path.read_text(encoding="utf-8")).get("clients", []) if path.exists() else []
    _write_private(path, {"clients": [*existing, asdict(client)]})


def _write_private(path: Path, document: dict[str, Any]) -> None:
    private_dir(path.parent)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
    staging.replace(path)  # atomic: a running server never reads half a file


def disable_client(client_id: str, *, path: Path | None = None, registrations: Path | None = None) -> bool:
    """Disable a registered client until its secret is rotated; False when no such client is registered here."""
    path, registrations = path or clients_file(), registrations or registrations_file()
    dynamic = load_registered_clients(registrations) if registrations.exists() else {}
    if client_id in dynamic:  # the last line for a client id wins: append the disabled form
        ClientRegistry(path, registrations).add_dynamic(replace(dynamic[client_id], disabled=True))
        return True
    return _replace_service_client(path, client_id, lambda client: replace(client, disabled=True)) is not None


def rotate_client_secret(client_id: str, *, path: Path | None = None) -> tuple[Client, str]:
    """Give a service or sign-in client a new secret and enable it; return it and the secret (shown once).

    Raises `ValueError` for a client that is not a confidential client of the clients file.
    """
    secret = secrets.token_urlsafe(32)
    rotated = _replace_service_client(
        path or clients_file(),
        client_id,
        lambda client: replace(client, secret_hash=hash_secret(secret), disabled=False),
    )
    if rotated is None or rotated.is_public:
        raise ValueError(f"no confidential client {client_id!r} in the clients file")
    return rotated, secret


def _replace_service_client(path: Path, client_id: str, change: Callable[[Client], Client]) -> Client | None:
    if not path.exists():
        return None
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")).get("clients", [])
    changed = None
    for index, entry in enumerate(entries):
        if entry["client_id"] == client_id:
            changed = change(_client(entry))
            entries[index] = asdict(changed)
    if changed is not None:
        _write_private(path, {"clients": entries})
    return changed
