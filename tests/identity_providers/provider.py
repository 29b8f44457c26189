"""globex's identity provider in the tests: `oidc-provider` from npm, run by Node 22 on a loopback port.

`scripts/oidc-provider.sh` installs Node 22 and oidc-provider 9.13.3 into the git-ignored `.tools/`;
`oidc_provider.mjs` beside this file configures it as a company would. This module writes its
configuration (the directory, the clients, the resource servers), starts it, waits until it serves
its discovery document, and stops it.

The directory is a company's, not this project's fixture users: subjects are UUIDs (never
`user@tenant`), there is no `tenant_id` claim (the issuer is globex's own), and people carry `roles`
and directory `groups`.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from tests.npm_tools import NODE, REPO
from tests.npm_tools import ensure_installed as install_tool

PROVIDER_DIR = REPO / ".tools" / "oidc-provider"
PROVIDER_VERSION = "9.13.3"  # the version scripts/oidc-provider.sh pins
INSTALL = REPO / "scripts" / "oidc-provider.sh"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
# Set by .ci/run: where the provider cannot be installed, that is a failure there, not a skip.
REQUIRE_VARIABLE = "REQUIRE_OIDC_PROVIDER"


@dataclass(frozen=True)
class Person:
    """One entry of globex's directory, as its IdP knows them."""

    subject: str  # the `sub` the IdP issues: a UUID, as Keycloak, Okta and most directories do
    username: str
    name: str
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    # What a misconfigured (or compromised) directory adds to this person's access tokens.
    extra_claims: dict[str, Any] = field(default_factory=dict)

    @property
    def email(self) -> str:
        return f"{self.username}@globex.example.com"


GLOBEX_PEOPLE: dict[str, Person] = {
    person.username: person
    for person in (
        Person(
            "3f6d2b1e-8c4a-4f7e-9a2d-5b1c0e7f9a31", "bob", "Bob Builder",
            roles=("supply_chain_manager",), groups=("GLOBEX-Supply-Chain", "GLOBEX-All-Staff"),
        ),
        Person(
            "a9c4e7d2-1b3f-4e8a-b6d5-0f2e9c8b7a64", "gwen", "Gwen Ledger",
            roles=("finance",), groups=("GLOBEX-Finance", "GLOBEX-All-Staff"),
        ),
        # globex's approver: may see and decide globex's approvals on the pages, and nobody else's.
        Person(
            "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "olga", "Olga Oversight",
            roles=("approver",), groups=("GLOBEX-Approvers", "GLOBEX-All-Staff"),
        ),
        # A directory entry someone got wrong: her tokens say she is in acme. The servers must refuse
        # them, whatever claim the globex IdP asserts.
        Person(
            "5e0b8f3c-7d2a-4c61-8e9f-2a4b6c8d0e15", "mallory", "Mallory Mixup",
            roles=("supply_chain_manager",), groups=("GLOBEX-Supply-Chain",), extra_claims={"tenant_id": "acme"},
        ),
    )
}  # fmt: skip

# The MCP client a globex employee uses: public, PKCE, a loopback redirect (RFC 8252; any port).
MCP_CLIENT_ID = "globex-mcp-client"
MCP_REDIRECT_URI = "http://127.0.0.1/callback"
# The approval pages' client: confidential, client_secret_basic, one callback per server's pages.
APPROVALS_CLIENT_ID = "globex-approval-pages"


def installed() -> bool:
    """Node 22 and the pinned oidc-provider are in `.tools/`."""
    package = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not NODE.is_file() or not package.is_file():
        return False
    return bool(json.loads(package.read_text(encoding="utf-8")).get("version") == PROVIDER_VERSION)


def ensure_installed() -> None:
    """Install Node 22 and oidc-provider with `scripts/oidc-provider.sh` (it does nothing when present),
    or skip the caller saying why not."""
    install_tool("oidc-provider", INSTALL, installed, require_variable=REQUIRE_VARIABLE)


def free_port() -> int:
    """A loopback port free now (Node binds it itself, so another process could take it first: `start` retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class OidcProvider:
    """A running oidc-provider: its issuer, its clients' secrets, and the files it runs from."""

    port: int
    workdir: Path
    approvals_client_secret: str
    process: subprocess.Popen[bytes] | None = None
    started_in: float = 0.0  # seconds from spawning Node to a served discovery document

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.workdir / "config.json"

    @property
    def keys_file(self) -> Path:
        """The signing keys (private JWKs, 0600), kept across restarts: a restart is not a rotation."""
        return self.workdir / "keys.json"

    @property
    def log_file(self) -> Path:
        return self.workdir / "provider.log"

    def jwks(self) -> dict[str, Any]:
        """The published key set."""
        response = httpx2.get(f"{self.issuer}/jwks", timeout=5)
        response.raise_for_status()
        keys: dict[str, Any] = response.json()
        return keys

    def start(self, *, rotate_keys: bool = False) -> None:
        """Run Node on `port`; returns once discovery is served (raises with the provider's log if not)."""
        assert self.process is None, "already running"
        began = time.monotonic()
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [str(NODE), str(SCRIPT), "--port", str(self.port), "--config", str(self.config_file)]
                + (["--rotate-keys"] if rotate_keys else []),
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OIDC_PROVIDER_DIR": str(PROVIDER_DIR)},
            )  # fmt: skip
        try:
            self._wait_for_discovery()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def _wait_for_discovery(self, timeout: float = 20) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        url = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_file.read_text(encoding="utf-8", errors="replace")[-1500:]
                raise RuntimeError(f"oidc-provider exited with {self.process.returncode}:\n{log}")
            try:
                response = httpx2.get(url, timeout=1)
            except httpx2.TransportError:
                time.sleep(0.02)
                continue
            if response.status_code == 200 and response.json().get("issuer") == self.issuer:
                return
            time.sleep(0.02)
        raise RuntimeError(f"oidc-provider served no discovery document at {url} within {timeout} s")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; waits for the process."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self, *, rotate_keys: bool = False) -> None:
        """Stop and start on the same port (the in-memory sessions and grants are lost, the keys kept)."""
        self.stop()
        self.start(rotate_keys=rotate_keys)


def write_config(
    provider: OidcProvider, *, resources: dict[str, str], approvals_callbacks: list[str], people: dict[str, Person]
) -> None:
    """The provider's configuration: `resources` maps each resource server's URL to the scopes it
    defines; `approvals_callbacks` are the approval pages' redirect URIs."""
    config = {
        "keys_file": str(provider.keys_file),
        "people": {
            person.subject: {
                "name": person.name,
                "preferred_username": person.username,
                "email": person.email,
                "roles": list(person.roles),
                "groups": list(person.groups),
                "extra_claims": person.extra_claims,
            }
            for person in people.values()
        },
        "clients": [
            {
                "client_id": MCP_CLIENT_ID,
                "application_type": "native",  # loopback redirect, any port (RFC 8252)
                "token_endpoint_auth_method": "none",
                "redirect_uris": [MCP_REDIRECT_URI],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            },
            {
                "client_id": APPROVALS_CLIENT_ID,
                "client_secret": provider.approvals_client_secret,
                "token_endpoint_auth_method": "client_secret_basic",
                "redirect_uris": approvals_callbacks,
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            },
        ],
        "resources": resources,
    }
    provider.config_file.write_text(json.dumps(config, indent=1), encoding="utf-8")
    provider.config_file.chmod(0o600)


def start_oidc_provider(
    workdir: Path,
    *,
    resources: dict[str, str],
    approvals_callbacks: list[str],
    people: dict[str, Person] = GLOBEX_PEOPLE,
    attempts: int = 3,
) -> OidcProvider:
    """oidc-provider on a free loopback port (another port if that one was taken meanwhile)."""
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # URL-safe: client_secret_basic form-encodes id and secret before base64 (RFC 6749 2.3.1).
    secret = secrets.token_urlsafe(32)
    for attempt in range(attempts):
        provider = OidcProvider(port=free_port(), workdir=workdir, approvals_client_secret=secret)
        write_config(provider, resources=resources, approvals_callbacks=approvals_callbacks, people=people)
        try:
            provider.start()
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            continue
        return provider
    raise AssertionError("unreachable")
