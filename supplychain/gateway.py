"""`supplychain gateway render`: the live HAProxy config and the files it reads, from the template.

The template (`deploy/gateway/haproxy.cfg`, with `backend.cfg` per server and `key.cfg` per signing
key) is filled with `string.Template`. Everything it names is written into the run folder:

- `keys/<kid>.pem`: each signing key of the authorization server's JWKS (found through RFC 8414
  discovery, as the servers find it) as an SPKI public-key PEM, with the key's own `alg` pinned in the
  rule that uses it; keys with another algorithm than RS256/ES256 are left out, as the servers do;
- `origins.lst` (allowed Origins), `tenant-limits.map` (tenant -> requests per period; others get the
  default), `mcp-routes.map` and `metadata-routes.map` (exact public paths -> server), `pages-routes.map`
  (the approval pages' path patterns -> server);
- `tls.pem`: certificate chain and key in one file (mode 0600), the dev certificates by default;
- with `peers` (several gateway nodes sharing the per-tenant counters): `peers.pem` (this node's
  certificate and key for the peers' mutual TLS, mode 0600) and `peers-ca.pem` (the CA it trusts there);
- `haproxy.cfg`, replaced only after `haproxy -c` accepted it, so a reload never reads a broken config
  (the check needs `haproxy` on this machine: compose's render job has none, and there the gateway
  container's HAProxy refuses a broken config when it starts). The files above are written first; a
  running HAProxy read them when it loaded its config, so refreshing them changes nothing until a reload.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import jwt
from cryptography.hazmat.primitives import serialization
from securemcp.identity.keys import ALLOWED_ALGORITHMS, IssuerUnavailable
from securemcp.identity.tokens import discover
from securemcp.settings import SettingsError

from deployment.registry import SERVERS
from supplychain.gateway_settings import GatewaySettings

# deploy/gateway/ in a checkout; an installed wheel carries the same files inside the package
# (pyproject.toml's force-include), so `gateway render` also runs in the production image.
_PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "gateway_templates"
_CHECKOUT_TEMPLATES = Path(__file__).resolve().parent.parent / "deploy" / "gateway"
TEMPLATES = _PACKAGED_TEMPLATES if _PACKAGED_TEMPLATES.is_dir() else _CHECKOUT_TEMPLATES
SAFE_KID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_PLACEHOLDER = re.compile(r"\$\{\w+\}")


class GatewayError(RuntimeError):
    """The gateway config could not be rendered or HAProxy refused it."""


@dataclass(frozen=True)
class PublicKey:
    """One verification key of the issuer, as HAProxy reads it."""

    kid: str
    alg: str
    pem: bytes


def _safe_kid(kid: Any) -> bool:
    """A `kid` that can name a file and a HAProxy rule: present, a string, and in the safe alphabet."""
    return isinstance(kid, str) and SAFE_KID.fullmatch(kid) is not None


def keys_from_jwks(jwks: dict[str, Any]) -> list[PublicKey]:
    """The JWKS's signing keys as SPKI PEM, each with its own algorithm; unusable entries are skipped."""
    keys: list[PublicKey] = []
    for entry in jwks.get("keys", []):
        kid, alg = entry.get("kid"), entry.get("alg")
        if alg not in ALLOWED_ALGORITHMS or entry.get("use", "sig") != "sig" or not _safe_kid(kid):
            continue
        try:
            public = jwt.PyJWK(entry, algorithm=alg).key
            pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        except (jwt.PyJWTError, AttributeError, ValueError):
            continue  # a private or malformed key is not something to publish at the edge
        keys.append(PublicKey(kid=str(kid), alg=str(alg), pem=pem))
    return keys


async def fetch_jwks(issuer_url: str, jwks_url: str | None = None) -> dict[str, Any]:
    """The issuer's current JWKS, found through its RFC 8414 (or OpenID) metadata unless `jwks_url` is set."""
    async with httpx2.AsyncClient(timeout=5.0, follow_redirects=False) as client:
        url = jwks_url or (await discover(issuer_url, client)).jwks_url
        try:
            response = await client.get(url)
            response.raise_for_status()
            jwks: dict[str, Any] = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise IssuerUnavailable(f"JWKS unreachable: {type(exc).__name__}") from None
    return jwks


def _fill(template_name: str, **values: object) -> str:
    """A template from deploy/gateway/ with every `${name}` filled; a missing value is an error.

    `safe_substitute`, because HAProxy's own syntax uses `$` (`'$.iss'`, regex anchors)."""
    text = Template((TEMPLATES / template_name).read_text(encoding="utf-8")).safe_substitute(values)
    left = _PLACEHOLDER.findall(text)
    if left:
        raise GatewayError(f"{template_name}: no value for {', '.join(sorted(set(left)))}")
    return text


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write `path` whole (aside, then renamed), so a reloading HAProxy never reads half a file."""
    staging = path.with_name(f".{path.name}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # before any byte: a leftover staging file may carry a wider mode
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    staging.replace(path)


def _tls_bundle(settings: GatewaySettings) -> bytes:
    """Certificate chain + private key in one PEM, as HAProxy's `crt` reads it (dev certificates by default)."""
    from supplychain.devcerts import certs_dir, write_dev_certificates

    if (settings.tls_certfile is None) != (settings.tls_keyfile is None):
        raise SettingsError("set both SUPPLYCHAIN_GATEWAY_TLS_CERTFILE and ..._TLS_KEYFILE, or neither")
    certfile, keyfile = settings.tls_certfile, settings.tls_keyfile
    if certfile is None or keyfile is None:
        certfile, keyfile = certs_dir() / "server.pem", certs_dir() / "server-key.pem"
        if not (certfile.exists() and keyfile.exists()):
            write_dev_certificates()
    chain, key = certfile.read_bytes(), keyfile.read_bytes()
    return chain.rstrip(b"\n") + b"\n" + key


def _peers_files(settings: GatewaySettings) -> tuple[bytes, bytes]:
    """(certificate chain + key, CA) of this node for the peers' mutual TLS: its own, else the dev ones
    (which `_tls_bundle` made, if they were missing)."""
    from supplychain.devcerts import certs_dir

    certfile, keyfile, ca = settings.peers_certfile, settings.peers_keyfile, settings.peers_ca_file
    if certfile is None or keyfile is None or ca is None:  # the settings allow this with dev certificates only
        certfile, keyfile, ca = certs_dir() / "server.pem", certs_dir() / "server-key.pem", certs_dir() / "ca.pem"
    return certfile.read_bytes().rstrip(b"\n") + b"\n" + keyfile.read_bytes(), ca.read_bytes()


def _peers_section(settings: GatewaySettings) -> str:
    """The `peers` section naming every gateway node, this one (`local_peer`) by its bind line only."""
    if not settings.peers:
        return ""
    folder = settings.folder
    servers = "".join(
        f"    server {name}\n" if name == settings.local_peer else f"    server {name} {address}\n"
        for name, address in sorted(settings.peers.items())
    )
    local = settings.peers[str(settings.local_peer)]
    return _fill("peers.cfg", bind=local, pem=folder / "peers.pem", ca=folder / "peers-ca.pem", servers=servers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def render_config(settings: GatewaySettings, keys: list[PublicKey]) -> str:
    """The HAProxy config text for these keys (the files it names are written by `render`)."""
    folder = settings.folder
    key_rules = "".join(
        _fill("key.cfg", alg=key.alg, kid=key.kid, pem=folder / "keys" / f"{key.kid}.pem") for key in keys
    )
    backends = "\n".join(
        _fill(
            "backend.cfg",
            server=server,
            mcp_path=f"/{server}/mcp",
            public_host=settings.public_host,
            servers="".join(
                f"    server {server}-{index + 1} {address}\n"
                for index, address in enumerate(settings.backend_addresses(server))
            ),
        )
        for server in SERVERS
    )
    return _fill(
        "haproxy.cfg",
        run_dir=folder,
        bind=settings.bind,
        tls_pem=folder / "tls.pem",
        hard_stop_after=f"{settings.hard_stop_after_seconds}s",
        rate_period=f"{settings.rate_period_seconds}s",
        retry_after=settings.rate_period_seconds,
        max_body_bytes=settings.max_body_bytes,
        origins_file=folder / "origins.lst",
        mcp_routes=folder / "mcp-routes.map",
        metadata_routes=folder / "metadata-routes.map",
        pages_routes=folder / "pages-routes.map",
        limits_file=folder / "tenant-limits.map",
        default_limit=settings.default_tenant_limit,
        public_url=settings.public_url,
        metadata_base=f"{settings.public_url}/.well-known/oauth-protected-resource",
        issuer=settings.issuer_url,
        leeway_seconds=settings.leeway_seconds,
        key_rules=key_rules,
        backends=backends,
        # HAProxy finds its own entry among the peers by this name (else by the host name).
        local_peer=f"    localpeer {settings.local_peer}" if settings.peers else "",
        peers=_peers_section(settings),
        table_peers=" peers gateways" if settings.peers else "",
    )


def check_config(path: Path) -> None:
    """Ask HAProxy whether it accepts the config at `path` (skipped when HAProxy is not installed here)."""
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        return
    checked = subprocess.run([haproxy, "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False)  # noqa: S603
    if checked.returncode != 0:
        raise GatewayError(f"haproxy refused the rendered config: {(checked.stderr or checked.stdout).strip()}")


def render(settings: GatewaySettings, jwks: dict[str, Any]) -> Path:
    """Write the run folder for `settings` and the issuer's `jwks`; returns the live config's path."""
    keys = keys_from_jwks(jwks)
    if not keys:
        raise GatewayError("the issuer's JWKS has no RS256/ES256 signing key: every token would be refused")
    folder = settings.folder
    (folder / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
    wanted = {f"{key.kid}.pem" for key in keys}
    for key in keys:
        _write(folder / "keys" / f"{key.kid}.pem", key.pem)
    for stale in (folder / "keys").glob("*.pem"):
        if stale.name not in wanted:  # a key the issuer dropped: tokens it signed stop verifying at the edge
            stale.unlink()
    _write(folder / "tls.pem", _tls_bundle(settings), mode=0o600)
    if settings.peers:
        peers_pem, peers_ca = _peers_files(settings)
        _write(folder / "peers.pem", peers_pem, mode=0o600)
        _write(folder / "peers-ca.pem", peers_ca)
    # The gateway's own origin too: the approval pages' forms post back to it.
    origins = dict.fromkeys([*settings.allowed_origins, _origin(settings.public_url)])
    _write(folder / "origins.lst", "".join(f"{origin}\n" for origin in origins))
    _write(folder / "tenant-limits.map", "".join(f"{t} {n}\n" for t, n in sorted(settings.tenant_limits.items())))
    _write(folder / "mcp-routes.map", "".join(f"/{server}/mcp {server}\n" for server in SERVERS))
    _write(
        folder / "metadata-routes.map",
        "".join(f"/.well-known/oauth-protected-resource/{server}/mcp {server}\n" for server in SERVERS),
    )
    _write(folder / "pages-routes.map", "".join(f"^/{server}/approvals(/.*)?$ {server}\n" for server in SERVERS))
    candidate = folder / ".haproxy.cfg.candidate"
    _write(candidate, render_config(settings, keys))
    check_config(candidate)
    candidate.replace(folder / "haproxy.cfg")
    return folder / "haproxy.cfg"


def render_from_issuer(settings: GatewaySettings) -> Path:
    """`render` with the JWKS fetched from the issuer now."""
    try:
        jwks = anyio.run(fetch_jwks, settings.issuer_url, settings.jwks_url)
    except IssuerUnavailable as exc:
        raise GatewayError(f"cannot read the issuer's keys at {settings.issuer_url}: {exc}") from None
    return render(settings, jwks)
