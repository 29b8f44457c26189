"""Client ID Metadata Documents: an `https://` URL as `client_id`, whose JSON document describes the client.

Fetching a URL that anyone names is a server-side request forgery surface, so:
- only `https://` URLs with a path, no fragment, no user info, no dot segments, at most 2000 characters;
- the port is 443: another port is refused before any name is resolved, except for a loopback
  document server under `SUPPLYCHAIN_IDP_CIMD_ALLOW_PRIVATE=true` (development only);
- the host name is resolved first and every address must be public (`idp.public_addresses`: IPv4
  inside IPv6 judged by what it carries): loopback, private, link-local, site-local, shared, reserved
  and multicast addresses are refused (the resolved addresses, so a name pointing at 127.0.0.1 is
  refused too), unless `SUPPLYCHAIN_IDP_CIMD_ALLOW_PRIVATE=true` (development only);
- at most `cimd_max_fetches` fetches run at once, `cimd_max_fetches_per_client` per client id; one
  over a cap is refused at once (`idp.fetch_slots.FetchesBusy`), never queued;
- the connection goes to the address that was checked (TLS still verifies the host name), so a second
  DNS answer cannot swap in another address; redirects are not followed; proxies are not used;
- the document must arrive within `cimd_timeout_seconds` and be at most `cimd_max_bytes`;
- it must be a JSON object whose `client_id` is exactly the URL, with 1 to 10 acceptable
  `redirect_uris` (the only ones the client may use), `token_endpoint_auth_method` `none` (no
  secrets), `authorization_code`/`refresh_token` grants, the `code` response type, no client secret;
- results are cached for `cimd_cache_seconds` (refusals for 30 s), at most 1000 entries.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2

from idp.clients import Client, acceptable_redirect_uri
from idp.fetch_slots import FetchSlots
from idp.public_addresses import loopback_address, public_address
from idp.settings import IdpSettings

MAX_URL_CHARS = 2000
MAX_REDIRECT_URIS = 10
MAX_CLIENT_NAME = 100
REFUSAL_CACHE_SECONDS = 30
MAX_CACHE_ENTRIES = 1000
HTTPS_PORT = 443
PORT_REFUSED = "the client_id URL may name no port but 443"
GRANT_TYPES = {"authorization_code", "refresh_token"}


class DocumentRefused(Exception):
    """The client's metadata document cannot be used; the message says why (safe to show)."""


def is_document_client_id(client_id: str | None) -> bool:
    """True for a client id that names a metadata document (`https://...`)."""
    return isinstance(client_id, str) and client_id.startswith("https://")


def check_document_url(url: str) -> tuple[str, int]:
    """(host, port) of an acceptable document URL; else `DocumentRefused`."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if (
        len(url) > MAX_URL_CHARS
        or parts.scheme != "https"
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.fragment
        or parts.path in ("", "/")
        or "." in segments
        or ".." in segments
    ):
        raise DocumentRefused("the client_id must be an https URL with a path, without fragment or user info")
    try:
        port = parts.port or 443
    except ValueError:
        raise DocumentRefused("the client_id URL has an invalid port") from None
    return parts.hostname, port


class ClientMetadataDocuments:
    """Fetched, validated and cached client metadata documents."""

    def __init__(self, settings: IdpSettings) -> None:
        self.settings = settings
        self._cache: dict[str, tuple[float, Client | str]] = {}
        self._tls = ssl.create_default_context(cafile=str(settings.cimd_ca_file) if settings.cimd_ca_file else None)
        self.slots = FetchSlots(overall=settings.cimd_max_fetches, per_client=settings.cimd_max_fetches_per_client)

    def cached(self, client_id: str) -> Client | None:
        """The client of a document loaded and still fresh, if any (for authlib's synchronous lookups)."""
        entry = self._cache.get(client_id)
        if entry is None or entry[0] <= time.monotonic() or isinstance(entry[1], str):
            return None
        return entry[1]

    async def load(self, client_id: str) -> Client:
        """The client described by the document at `client_id`, fetched unless cached; else `DocumentRefused`,
        or `FetchesBusy` (not cached) when the fetch would go over a cap."""
        entry = self._cache.get(client_id)
        if entry is not None and entry[0] > time.monotonic():
            if isinstance(entry[1], str):
                raise DocumentRefused(entry[1])
            return entry[1]
        try:
            with self.slots.hold(client_id):
                body = await self._fetch(client_id)
            client = self._client_from(client_id, body)
        except DocumentRefused as refused:
            self._remember(client_id, str(refused), REFUSAL_CACHE_SECONDS)
            raise
        self._remember(client_id, client, self.settings.cimd_cache_seconds)
        return client

    def _remember(self, client_id: str, value: Client | str, seconds: float) -> None:
        if len(self._cache) >= MAX_CACHE_ENTRIES:
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            while len(self._cache) >= MAX_CACHE_ENTRIES:
                del self._cache[next(iter(self._cache))]
        self._cache[client_id] = (time.monotonic() + seconds, value)

    async def _fetch(self, url: str) -> bytes:
        host, port = check_document_url(url)
        seconds = self.settings.cimd_timeout_seconds
        try:
            with anyio.fail_after(seconds):
                addresses = await self._checked_addresses(host, port)
                for address in addresses[:-1]:  # e.g. ::1 first, while the server listens on 127.0.0.1 only
                    try:
                        return await self._download(url, host, address, port)
                    except httpx2.ConnectError:
                        continue
                return await self._download(url, host, addresses[-1], port)
        except TimeoutError:
            raise DocumentRefused(f"the client's metadata document did not arrive within {seconds:g} s") from None
        except httpx2.HTTPError as error:
            reason = type(error).__name__
            raise DocumentRefused(f"the client's metadata document could not be fetched ({reason})") from None

    async def _download(self, url: str, host: str, address: str, port: int) -> bytes:
        # Connect to the address that was checked; TLS verifies `host` (SNI), the Host header names it.
        parts = urlsplit(url)
        pinned = urlunsplit(parts._replace(netloc=f"[{address}]:{port}" if ":" in address else f"{address}:{port}"))
        limit, too_large = self.settings.cimd_max_bytes, f"larger than {self.settings.cimd_max_bytes} bytes"
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        async with (
            httpx2.AsyncClient(verify=self._tls, trust_env=False, follow_redirects=False) as http,
            http.stream("GET", pinned, headers=headers, extensions={"sni_hostname": host}) as response,
        ):
            if response.status_code != 200:
                raise DocumentRefused(f"the client's metadata document answered HTTP {response.status_code}")
            if int(response.headers.get("content-length") or 0) > limit:
                raise DocumentRefused(f"the client's metadata document is {too_large}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise DocumentRefused(f"the client's metadata document is {too_large}")
            return bytes(body)

    async def _checked_addresses(self, host: str, port: int) -> list[str]:
        allow_private = self.settings.cimd_allow_private
        if port != HTTPS_PORT and not allow_private:
            raise DocumentRefused(PORT_REFUSED)  # before resolving: no DNS query for a refused URL
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise DocumentRefused("the client_id's host name does not resolve") from None
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise DocumentRefused("the client_id's host name does not resolve")
        if not allow_private and not all(public_address(a) for a in addresses):
            raise DocumentRefused(
                "the client_id's host resolves to a loopback, private or link-local address, which this "
                "server does not fetch (SUPPLYCHAIN_IDP_CIMD_ALLOW_PRIVATE is for development only)"
            )
        # Development: a document server of one's own on a free loopback port, and nothing else on another port.
        if port != HTTPS_PORT and not all(loopback_address(a) for a in addresses):
            raise DocumentRefused(PORT_REFUSED)
        return list(dict.fromkeys(addresses))

    def _client_from(self, url: str, body: bytes) -> Client:
        try:
            document: Any = json.loads(body)
        except ValueError:
            raise DocumentRefused("the client's metadata document is not JSON") from None
        if not isinstance(document, dict):
            raise DocumentRefused("the client's metadata document is not a JSON object")
        if document.get("client_id") != url:
            raise DocumentRefused("the document's client_id is not exactly the URL it was fetched from")
        if url in self.settings.resources.values():
            raise DocumentRefused("a client_id may not be one of this issuer's resource URLs")
        uris = document.get("redirect_uris")
        if not isinstance(uris, list) or not 1 <= len(uris) <= MAX_REDIRECT_URIS:
            raise DocumentRefused(f"the document must list 1 to {MAX_REDIRECT_URIS} redirect_uris")
        if not all(acceptable_redirect_uri(uri) for uri in uris):
            raise DocumentRefused("redirect URIs must be https, or http on a loopback address")
        if "client_secret" in document or document.get("token_endpoint_auth_method", "none") != "none":
            raise DocumentRefused("a client described by a metadata document has no secret: use 'none' with PKCE")
        grant_types = document.get("grant_types", ["authorization_code"])
        if not isinstance(grant_types, list) or not grant_types or not set(grant_types) <= GRANT_TYPES:
            raise DocumentRefused("grant_types may be authorization_code and refresh_token only")
        if document.get("response_types", ["code"]) != ["code"]:
            raise DocumentRefused("the only response type is 'code'")
        name = document.get("client_name", urlsplit(url).hostname)
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CLIENT_NAME:
            raise DocumentRefused(f"client_name must be a string of 1 to {MAX_CLIENT_NAME} characters")
        return Client(
            client_id=url,
            client_name=name,
            token_endpoint_auth_method="none",  # noqa: S106 (a method name: public client, no secret)
            grant_types=tuple(grant_types),
            redirect_uris=tuple(uris),
        )
