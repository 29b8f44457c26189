"""Browser sessions of the login and consent pages, kept server-side.

Guarantees:
- the cookie carries only a random session id (HttpOnly, SameSite=Lax, Secure on an https issuer);
- each session has its own CSRF token, which every form post must echo (compared in constant time);
- a session starts only at a successful login (an anonymous browser's login form is protected by
  `idp.login_forms`, which stores nothing here), so no flood of anonymous requests can evict one;
- logging in replaces any session id the browser had and the CSRF token (no session fixation);
- a session remembers when its password was typed (`auth_time`, the ID token's claim) and for which
  authorization request, so `prompt=login` and `max_age` ask for the password once per request;
- sessions expire after 30 idle minutes, and there are never more than `max_sessions` of them.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "supplychain_idp_session"
IDLE_SECONDS = 30 * 60


@dataclass
class Session:
    """One browser's session, from its login: the user, and the CSRF token of its consent forms."""

    sid: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    user_id: str | None = None
    auth_time: int | None = None  # wall-clock second of the password login
    logged_in_for: str | None = None  # digest of the authorization request that login answered
    last_seen: float = field(default_factory=time.monotonic)

    def csrf_ok(self, submitted: str | None) -> bool:
        """True when a form carried this session's CSRF token."""
        return submitted is not None and hmac.compare_digest(submitted.encode(), self.csrf_token.encode())


class SessionStore:
    """Sessions by id, in memory."""

    def __init__(self, *, max_sessions: int = 10_000) -> None:
        self._sessions: dict[str, Session] = {}
        self.max_sessions = max_sessions

    def current(self, request: Request) -> Session | None:
        """The live session named by the request's cookie, if any."""
        session = self._sessions.get(request.cookies.get(COOKIE, ""))
        if session is None or time.monotonic() - session.last_seen > IDLE_SECONDS:
            return None
        session.last_seen = time.monotonic()
        return session

    def start(self) -> Session:
        """A new session (evicting expired ones, then the oldest, when full)."""
        if len(self._sessions) >= self.max_sessions:
            now = time.monotonic()
            self._sessions = {k: s for k, s in self._sessions.items() if now - s.last_seen <= IDLE_SECONDS}
            while len(self._sessions) >= self.max_sessions:
                del self._sessions[next(iter(self._sessions))]
        session = Session()
        self._sessions[session.sid] = session
        return session

    def __len__(self) -> int:
        return len(self._sessions)

    def log_in(self, old: Session | None, user_id: str, *, request_digest: str) -> Session:
        """A fresh session for `user_id`, who typed the password now for that request (replacing `old`, if any)."""
        if old is not None:
            self._sessions.pop(old.sid, None)
        session = self.start()
        session.user_id, session.auth_time, session.logged_in_for = user_id, int(time.time()), request_digest
        return session


def set_cookie(response: Response, session: Session, *, secure: bool) -> None:
    """Attach the session cookie to a response."""
    response.set_cookie(COOKIE, session.sid, httponly=True, samesite="lax", secure=secure, path="/")
