"""The person at the browser, scripted: logs in to the dev authorization server and consents, and
decides on a server's approval page (`PageBrowser`).

The MCP SDK's OAuth client (`OAuthClientProvider`) does what a real agent does: it reads the
server's RFC 9728 metadata, registers itself (RFC 7591), and sends the user to the authorization
endpoint with PKCE and a resource indicator. Here that "user" is this class: it opens the URL, logs
in as the demo user with the fixture's dev password, approves the consent page, and hands the code
from the redirect back to the SDK, printing each step. Never use dev passwords beyond a demo.
"""

from __future__ import annotations

import html
import re
import ssl
from collections.abc import Callable
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from mcp.client.auth import AuthorizationCodeResult

from fixtures.tenants import DEV_PASSWORDS

HIDDEN_INPUT = re.compile(r'<input type="?hidden"? name="([^"]*)" value="([^"]*)">')
MESSAGE = re.compile(r'<p class="message[^"]*" role="alert">(.*?)</p>', re.S)


class BrowserFailed(RuntimeError):
    """The authorization server did not let the scripted user through."""


class ScriptedBrowser:
    """A cookie-keeping user agent for `user` that approves every consent page it is shown."""

    def __init__(self, user: str, issuer: str, say: Callable[[str], None]) -> None:
        self.user = user
        self.say = say
        self.http = httpx2.AsyncClient(base_url=issuer, timeout=10.0, follow_redirects=False)
        self._result: AuthorizationCodeResult | None = None
        self._authorized: set[str] = set()

    async def open(self, authorization_url: str) -> None:
        """The SDK's `redirect_handler`: follow the authorization request through login and consent."""
        query = parse_qs(urlsplit(authorization_url).query)
        resource = " ".join(query.get("resource", []))
        if resource in self._authorized:
            self.say("   the server answered 403 insufficient_scope: the agent's OAuth client steps up")
        self._authorized.add(resource)
        self.say(f"   browser → authorize {resource}, scope {query.get('scope', ['?'])[0]!r}")
        page = await self.http.get(authorization_url)
        if "Allow access?" not in page.text:
            self.say(f"   browser: log in as {self.user} (dev password)")
            credentials = {"username": self.user, "password": DEV_PASSWORDS[self.user]}
            login = await self.http.post("/login", data=dict(_hidden_fields(page.text)) | credentials)
            if login.status_code != 303:
                raise BrowserFailed(f"login refused (HTTP {login.status_code})")
            page = await self.http.get(login.headers["location"])
        if "Allow access?" not in page.text:
            raise BrowserFailed(f"no consent page (HTTP {page.status_code}): {_text(page.text)[:200]}")
        self.say("   browser: consent page approved")
        consent: dict[str, list[str]] = {"decision": ["approve"]}
        for name, value in _hidden_fields(page.text):  # repeated names (several resources) stay lists
            consent[name] = [*consent.get(name, []), value]
        answer = await self.http.post("/authorize", data=consent)
        location = answer.headers.get("location", "")
        params = parse_qs(urlsplit(location).query)
        if answer.status_code != 302 or "code" not in params:
            error = params.get("error_description", params.get("error", [_text(answer.text)[:200]]))[0]
            raise BrowserFailed(f"authorization refused: {error}")
        # The issuer comes back too (RFC 9207): the SDK checks it against the metadata, against mix-up attacks.
        self._result = AuthorizationCodeResult(
            code=params["code"][0], state=params.get("state", [None])[0], iss=params.get("iss", [None])[0]
        )

    async def callback(self) -> AuthorizationCodeResult:
        """The SDK's `callback_handler`: the code the redirect carried."""
        if self._result is None:
            raise BrowserFailed("no authorization code was received")
        result, self._result = self._result, None
        return result

    async def aclose(self) -> None:
        await self.http.aclose()


class PageBrowser:
    """A person at a server's approval page, scripted over HTTP: signs in at the IdP when sent there
    (typing the dev password), then approves or denies. The page decides; this only clicks."""

    def __init__(self, user: str, say: Callable[[str], None], verify: ssl.SSLContext | bool = True) -> None:
        self.user = user
        self.say = say
        self.http = httpx2.AsyncClient(timeout=15.0, follow_redirects=False, verify=verify)

    async def _follow(self, response: httpx2.Response) -> httpx2.Response:
        """Follow redirects, through the IdP's login and consent pages, to the page the browser ends on."""
        for _ in range(20):
            if response.is_redirect:
                response = await self.http.get(urljoin(str(response.url), response.headers["location"]))
            elif 'name="password"' in response.text or "name=password" in response.text:
                self.say(f"   browser: sign in at the IdP as {self.user} (dev password)")
                login = dict(_hidden_fields(response.text)) | {
                    "username": self.user,
                    "password": DEV_PASSWORDS[self.user],
                }
                response = await self.http.post(urljoin(str(response.url), "/login"), data=login)
            elif "Allow access?" in response.text:
                consent: dict[str, list[str]] = {"decision": ["approve"]}
                for name, value in _hidden_fields(response.text):
                    consent[name] = [*consent.get(name, []), value]
                response = await self.http.post(urljoin(str(response.url), "/authorize"), data=consent)
            else:
                return response
        raise BrowserFailed("too many redirects")

    async def decide(self, url: str, decision: str) -> tuple[int, str]:
        """Open the approval at `url` and press `decision`: (HTTP status, the page's message)."""
        page = await self._follow(await self.http.get(url))
        fields = dict(_hidden_fields(page.text))
        if "csrf_token" not in fields or page.status_code != 200:
            raise BrowserFailed(f"no approval form at {url} (HTTP {page.status_code}): {_text(page.text)[:200]}")
        self.say(f"   browser: {self.user} presses {decision.capitalize()}")
        answer = await self._follow(await self.http.post(url, data=fields | {"decision": decision}))
        found = MESSAGE.search(answer.text)
        return answer.status_code, html.unescape(found.group(1)) if found else _text(answer.text)[:200]

    async def aclose(self) -> None:
        await self.http.aclose()


def _hidden_fields(page: str) -> list[tuple[str, str]]:
    return [(html.unescape(name), html.unescape(value)) for name, value in HIDDEN_INPUT.findall(page)]


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page).split("  ")[-1].strip()
