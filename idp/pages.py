"""The login, consent and error pages.

Guarantees: every value shown or put in a form field passes through `html.escape(quote=True)` (a
client registers its own `client_name`, so it is hostile until proven otherwise); pages carry a
Content-Security-Policy without scripts, refuse framing (no clickjacked consent) and are not cached.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

from idp.settings import is_loopback_host

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STYLE = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}code{background:#eee}"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head><body><p><small>Supply chain MCP · dev authorization server "
        f"(development only)</small></p><h1>{_e(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _hidden(params: list[tuple[str, str]]) -> str:
    return "".join(f'<input type=hidden name="{_e(name)}" value="{_e(value)}">' for name, value in params)


def login_page(*, csrf_token: str, authorize_query: str, users: list[str], error: str | None = None) -> HTMLResponse:
    """The login form; it posts back to /login and then resumes the authorization request."""
    notice = f"<p role=alert><strong>{_e(error)}</strong></p>" if error else ""
    hint = ", ".join(f"<code>{_e(user)}</code>" for user in users)
    body = (
        f"{notice}<form method=post action=/login>"
        f"{_hidden([('csrf_token', csrf_token), ('authorize_query', authorize_query)])}"
        "<p><label>User <input name=username autocomplete=username required></label></p>"
        "<p><label>Password <input name=password type=password autocomplete=current-password required></label></p>"
        "<p><button type=submit>Log in</button></p></form>"
        f"<p><small>Fixture users (dev passwords in <code>fixtures/tenants.py</code>): {hint}</small></p>"
    )
    return _page("Log in", body, status=401 if error else 200)


def consent_page(
    *,
    csrf_token: str,
    user_id: str,
    client_name: str,
    client_id: str,
    scopes: list[str],
    sign_in: bool,
    redirect_uri: str,
    resources: list[str],
    params: list[tuple[str, str]],
) -> HTMLResponse:
    """The consent form: who asks, for what, and where the answer goes; no "Allow" when nothing can be granted."""
    asks = []
    if sign_in:
        asks.append("<p>to sign you in: it learns your user id, your organisation and your roles (OpenID Connect).</p>")
    if scopes:
        scope_items = "".join(f"<li><code>{_e(scope)}</code></li>" for scope in scopes)
        resource_items = "".join(f"<li><code>{_e(resource)}</code></li>" for resource in resources) or (
            "<li>any of the supply chain servers, one per token</li>"
        )
        asks.append(f"<p>to act for you with:</p><ul>{scope_items}</ul><p>on</p><ul>{resource_items}</ul>")
    grantable = bool(asks)
    if not grantable:
        on = ", ".join(f"<code>{_e(resource)}</code>" for resource in resources) or "any server"
        asks.append(
            f"<p role=alert><strong>Nothing can be allowed:</strong> your roles allow none of the requested "
            f"scopes on {on}. Ask an administrator for a role if you need this access.</p>"
        )
    buttons = (
        "<button type=submit name=decision value=approve>Allow</button> "
        "<button type=submit name=decision value=deny>Deny</button>"
        if grantable
        else "<button type=submit name=decision value=deny>Back to the application</button>"
    )
    body = (
        f"<p>Signed in as <code>{_e(user_id)}</code>.</p>"
        f"<p><strong>{_e(client_name)}</strong> (client <code>{_e(client_id)}</code>) asks</p>{''.join(asks)}"
        f"{_destination(redirect_uri, client_name)}"
        f"<form method=post action=/authorize>{_hidden([('csrf_token', csrf_token), *params])}{buttons}</form>"
    )
    return _page("Allow access?", body)


def _destination(redirect_uri: str, client_name: str) -> str:
    """Where the answer goes, host first; a loopback host gets a warning (any local program may listen there)."""
    host = urlsplit(redirect_uri).hostname or ""
    text = f"<p>Your answer goes to <strong>{_e(host)}</strong> (<code>{_e(redirect_uri)}</code>).</p>"
    if is_loopback_host(host):
        text += (
            "<p role=alert><strong>Warning:</strong> this address is on your own computer (localhost). Any "
            f"program running here can receive the answer and pretend to be {_e(client_name)}. Allow only "
            "if you started this application yourself just now.</p>"
        )
    return text


def error_page(title: str, message: str, status: int) -> HTMLResponse:
    """An error shown to the user (never redirected to an unverified client)."""
    return _page(title, f"<p>{_e(message)}</p>", status=status)
