"""The login form's CSRF protection, kept by the browser instead of the server.

An anonymous `GET /authorize` stores nothing server-side, so a flood of them cannot fill the session
store and evict anyone's login (`idp.sessions` starts a session only at a successful login). Instead:
- the browser holds a random nonce in a cookie (HttpOnly, SameSite=Strict, sent to `/login` only);
- the form carries a token signed with this server's key over that nonce and the pending
  authorization request, valid for `LOGIN_FORM_SECONDS`;
- `POST /login` accepts a form only with a fresh, untampered token whose nonce is the cookie's and
  whose request is the form's: a token copied into another browser, or for another request, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

LOGIN_COOKIE = "supplychain_idp_login"
LOGIN_FORM_SECONDS = 10 * 60
_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def _digest(authorize_query: str) -> str:
    return hashlib.sha256(authorize_query.encode()).hexdigest()


class LoginForms:
    """Signs and checks login-form tokens with a key of this process (a restart voids open forms only)."""

    def __init__(self) -> None:
        self._signer = URLSafeTimedSerializer(secrets.token_bytes(32), salt="supplychain-idp-login-form")

    def browser_nonce(self, request: Request) -> str:
        """The nonce this browser already holds (so forms open in several tabs all stay valid), else a new one."""
        held = request.cookies.get(LOGIN_COOKIE, "")
        return held if _NONCE.match(held) else secrets.token_urlsafe(32)

    def token(self, nonce: str, authorize_query: str) -> str:
        """The form's token for this browser's nonce and this authorization request."""
        return self._signer.dumps({"nonce": nonce, "request": _digest(authorize_query)})

    def accepts(self, token: str | None, *, request: Request, authorize_query: str) -> bool:
        """True for a fresh token of this server, for this browser's cookie and this authorization request."""
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not token or not _NONCE.match(nonce):
            return False
        try:
            signed = self._signer.loads(token, max_age=LOGIN_FORM_SECONDS)
        except BadData:
            return False
        if not isinstance(signed, dict):
            return False
        same_browser = hmac.compare_digest(str(signed.get("nonce")).encode(), nonce.encode())
        same_request = hmac.compare_digest(str(signed.get("request")).encode(), _digest(authorize_query).encode())
        return same_browser and same_request


def set_login_cookie(response: Response, nonce: str, *, secure: bool) -> None:
    """Give the browser its nonce: readable by no script, sent with same-site posts to /login only."""
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=LOGIN_FORM_SECONDS, httponly=True, samesite="strict", secure=secure, path="/login"
    )
