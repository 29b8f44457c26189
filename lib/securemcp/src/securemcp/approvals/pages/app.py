"""The approval pages of one server, as an ASGI app mounted at `/approvals` of its HTTP app.

    GET  /approvals                 the signed-in person's decidable approvals in their organisation
    GET  /approvals/{id}?tenant=t   one approval: the decision sentence, outside text apart, the form; `tenant`
                                    (optional) says where to sign in when nobody is (home-realm discovery)
    POST /approvals/{id}            approve or deny (CSRF token first, then a fresh sign-in, then the decision;
                                    a sign-in too old gets a page that moves on to the IdP with prompt=login)
    GET  /approvals/auth/login      sign in at the IdP of `?tenant=` (else ISSUER_URL's; OpenID Connect,
                                    `securemcp.approvals.pages.signin`); with a session already, only from these
                                    pages, else a button to press (login CSRF)
    POST /approvals/auth/login      that button (CSRF token first)
    GET  /approvals/auth/callback   back from the IdP: a new server-side session replaces the old one
    POST /approvals/auth/logout     end the session on the server
    GET  /approvals/static/approvals.css

Guarantees: nothing is shown or decided without a signed-in person; the tenant is the one the signing
issuer decides, never the URL's: a URL's tenant only chooses the IdP to sign in at, and every approval is
read in the session's tenant, so a wrong or forged one leads to the same not-found page as an unknown id;
a decision runs only through `securemcp.approvals.decisions.decide`, which checks the level, the person, the
expiry and that it was not decided before; every answer carries `securemcp.approvals.pages.hygiene`'s
headers; the session lives on the server (`securemcp.approvals.pages.sessions`) and its cookie, only a
random id, is HttpOnly, SameSite=Strict, and `__Host-` (or `__Secure-` behind the gateway) under TLS.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from securemcp.approvals.pages.config import PagesConfig
from securemcp.approvals.pages.decide import Decisions, PagesUnavailable, RevocationsFor
from securemcp.approvals.pages.hygiene import CSRF_FIELD, PageHeaders, csrf_matches
from securemcp.approvals.pages.sessions import (
    SESSION_SECONDS,
    PageSession,
    end_page_session,
    load_page_session,
    session_cookie,
    start_page_session,
)
from securemcp.approvals.pages.signin import SignIn, SignInFailed
from securemcp.approvals.pages.views import Views
from securemcp.errors import SignInTooOldError
from securemcp.identity.principal import TENANT_ID_PATTERN
from securemcp.settings import PAGES_PATH, TENANT_HINT

logger = logging.getLogger(__name__)

SIGN_IN_SECONDS = 10 * 60  # the handshake cookie (state, nonce, PKCE verifier) lives only as long as a sign-in
_NEXT = "next"
_APPROVAL_ID = re.compile(r"^ap_[0-9a-f]{20}$")
_FORGED = "This form did not come from this page or has expired; nothing was changed. Open the approval again."
_UNREACHABLE = "The sign-in service cannot be reached right now. Try again shortly."


def pages_routes(
    config: PagesConfig, engine: Callable[[], AsyncEngine | None], revocations: RevocationsFor | None = None
) -> list[BaseRoute]:
    """The routes to add to a server's app: the pages under `/approvals`, the list also without a slash.

    Starlette would answer `/approvals` with a redirect built from the request's own URL, which behind the
    gateway lacks the `/<server>` prefix; serving the list there directly avoids the wrong address.
    """
    mount = Mount(PAGES_PATH, app=approval_pages(config, engine, revocations))
    return [Route(PAGES_PATH, _AsListPath(mount), methods=["GET"]), mount]


class _AsListPath:
    """ASGI: `/approvals` handled as `/approvals/` by the pages' mount."""

    def __init__(self, mount: Mount) -> None:
        self.mount = mount

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, "path": f"{PAGES_PATH}/", "raw_path": f"{PAGES_PATH}/".encode()}
        _, child = self.mount.matches(scope)
        await self.mount.handle({**scope, **child}, receive, send)


def approval_pages(
    config: PagesConfig, engine: Callable[[], AsyncEngine | None], revocations: RevocationsFor | None = None
) -> ASGIApp:
    """The pages app for `config`; `engine()` gives the server's database engine while it runs."""
    views = Views(config)
    sign_in = SignIn(config)
    decisions = Decisions(config, engine, revocations)
    cookie = session_cookie(config)

    def database() -> AsyncEngine:
        running = engine()
        if running is None:
            raise PagesUnavailable
        return running

    async def session_of(request: Request) -> PageSession | None:
        return await load_page_session(database(), schema=config.server, session_id=request.cookies.get(cookie.name))

    def sign_in_url(next_path: str, tenant: str | None, *, again: bool = False) -> str:
        return config.url(
            f"/auth/login?next={quote(next_path, safe='')}"
            + (f"&{TENANT_HINT}={tenant}" if tenant is not None else "")
            + ("&again=1" if again else "")
        )

    def to_sign_in(next_path: str, tenant: str | None) -> Response:
        return RedirectResponse(sign_in_url(next_path, tenant), status_code=303)

    def after_post_to_sign_in(next_path: str, tenant: str, *, again: bool, message: str) -> Response:
        # Not a redirect: after a form post, CSP `form-action 'self'` stops a redirect chain that leaves
        # this origin (for the IdP). A page that moves on by itself (no script) is a plain navigation.
        target = sign_in_url(next_path, tenant, again=again)
        return views.page("bounce.html", title="Sign in", target=target, message=message)

    def common(session: PageSession | None) -> dict[str, Any]:
        return {"person": None if session is None else session.person,
                "csrf_token": "" if session is None else session.csrf_token}  # fmt: skip

    def tenant_hint(value: object) -> str | None:
        # Only chooses where to sign in; anything but a well-formed tenant id is no hint at all.
        return value if isinstance(value, str) and TENANT_ID_PATTERN.fullmatch(value) else None

    def only_pages_path(next_path: str) -> str:
        # Only a path of these pages: the sign-in must never become an open redirect.
        return next_path if next_path == "" or _APPROVAL_ID.fullmatch(next_path[1:]) else ""

    async def list_page(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return to_sign_in("", tenant_hint(request.query_params.get(TENANT_HINT)))
        approvals = await decisions.decidable(session.person)
        return views.page("list.html", title="Approvals waiting for you", approvals=approvals, **common(session))

    async def approval_page(request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        session = await session_of(request)
        if session is None:
            next_path = f"/{approval_id}" if _APPROVAL_ID.fullmatch(approval_id) else ""
            return to_sign_in(next_path, tenant_hint(request.query_params.get(TENANT_HINT)))
        if not _APPROVAL_ID.fullmatch(approval_id):
            return views.not_found(**common(session))
        # Read in the session's tenant, whatever tenant the URL names: another's id is simply not there.
        return await decisions.show(views, session.person, approval_id, common(session))

    async def decide_page(request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        async with request.form(max_files=0, max_fields=8, max_part_size=4096) as form:
            submitted = {name: value for name, value in form.items() if isinstance(value, str)}
        session = await session_of(request)
        # First: nothing else is even read. No live session (signed out, ended, a copied cookie) has no token.
        if session is None or not csrf_matches(session.csrf_token, submitted.get(CSRF_FIELD)):
            if session is not None and _APPROVAL_ID.fullmatch(approval_id):
                # A stale form of a signed-in person: recorded as theirs.
                verb = submitted.get("decision") if submitted.get("decision") in ("approve", "deny") else "decide"
                await decisions.record_refusal(session.person, approval_id, str(verb), "the form failed its CSRF check")
            return views.message(title="Forbidden", status=403, kind="refused", message=_FORGED)
        if not _APPROVAL_ID.fullmatch(approval_id):
            return views.not_found(**common(session))
        decision = submitted.get("decision")
        if decision not in ("approve", "deny"):
            return views.message(title="Bad request", status=400, message="Choose approve or deny.", **common(session))
        try:
            return await decisions.decide(
                views, session.person, approval_id, decision, submitted.get("arguments_sha256", ""), common(session)
            )
        except SignInTooOldError:  # nothing was decided: sign in again at the IdP, then decide
            minutes = max(1, int(config.max_sign_in_age.total_seconds() // 60))
            message = f"Deciding needs a sign-in from the last {minutes} minutes. Sign in again; nothing was decided."
            # Again at the IdP the session came from: the one bound to the session's tenant.
            return after_post_to_sign_in(f"/{approval_id}", session.person.tenant_id, again=True, message=message)

    async def start_sign_in(request: Request, next_path: str, tenant: str | None, *, again: bool) -> Response:
        request.session[_NEXT] = only_pages_path(next_path)
        try:
            return await sign_in.redirect(request, config.sign_in_for(tenant), again=again)
        except (SignInFailed, OSError, ValueError) as error:
            logger.warning("approval pages: cannot start a sign-in at the IdP: %s: %s", type(error).__name__, error)
            return views.message(title="Sign-in unavailable", status=503, message=_UNREACHABLE)

    async def login(request: Request) -> Response:
        next_path = only_pages_path(request.query_params.get("next", ""))
        tenant = tenant_hint(request.query_params.get(TENANT_HINT))
        session = await session_of(request)
        if session is not None and request.headers.get("sec-fetch-site") != "same-origin":
            # Login CSRF: a link from elsewhere (or a typed address) must not replace a signed-in session
            # unasked. Our own pages navigate here same-origin; anything else gets a button to press.
            return views.page("switch.html", title="Sign in again", next_path=next_path, tenant=tenant or "",
                              **common(session))  # fmt: skip
        return await start_sign_in(request, next_path, tenant, again=request.query_params.get("again") == "1")

    async def login_confirmed(request: Request) -> Response:
        async with request.form(max_files=0, max_fields=4, max_part_size=1024) as form:
            submitted = {name: value for name, value in form.items() if isinstance(value, str)}
        session = await session_of(request)
        if session is None or not csrf_matches(session.csrf_token, submitted.get(CSRF_FIELD)):
            return views.message(title="Forbidden", status=403, kind="refused", message=_FORGED)
        tenant = tenant_hint(submitted.get(TENANT_HINT))
        return await start_sign_in(request, submitted.get("next", ""), tenant, again=submitted.get("again") == "1")

    async def callback(request: Request) -> Response:
        if request.headers.get("sec-fetch-site") == "cross-site" and "bounced" not in request.query_params:
            # A SameSite=Strict cookie is not sent on a navigation from another site (a company IdP):
            # reload the callback from this site, without script, so the session comes along.
            message = "Finishing the sign-in."
            target = f"{config.callback_url}?{request.url.query}&bounced=1"  # the public address, not the replica's
            return views.page("bounce.html", title="Signing in", target=target, message=message)
        try:
            person = await sign_in.finish(request)
        except SignInFailed as failure:
            logger.warning("approval pages: sign-in refused: %s", failure)
            refused = "The sign-in could not be completed. Start again."
            return views.message(title="Sign-in failed", status=400, kind="refused", message=refused)
        next_path = request.session.pop(_NEXT, "")
        request.session.clear()  # the handshake is over: nothing of it is kept
        await end_page_session(database(), schema=config.server, session_id=request.cookies.get(cookie.name))
        session_id, _ = await start_page_session(database(), schema=config.server, person=person)
        response = RedirectResponse(config.url(next_path), status_code=303)
        response.set_cookie(
            cookie.name, session_id, max_age=SESSION_SECONDS, path=cookie.path, secure=cookie.secure,
            httponly=True, samesite="strict",
        )  # fmt: skip
        return response

    async def logout(request: Request) -> Response:
        async with request.form(max_files=0, max_fields=4, max_part_size=1024) as form:
            token = form.get(CSRF_FIELD)
        session = await session_of(request)
        if session is None or not csrf_matches(session.csrf_token, token):
            return views.message(
                title="Forbidden", status=403, kind="refused", message="This form did not come from this page."
            )
        # Deleted on the server: a copy of the cookie (another browser, a stolen one) is signed out too.
        await end_page_session(database(), schema=config.server, session_id=request.cookies.get(cookie.name))
        response = views.message(title="Signed out", status=200, message="You are signed out of the approval pages.")
        response.delete_cookie(cookie.name, path=cookie.path, secure=cookie.secure, httponly=True, samesite="strict")
        return response

    async def unavailable(request: Request, exc: Exception) -> Response:
        return views.message(title="Try again", status=503, message="The approval pages are starting or stopping.")

    routes = [
        Route("/", list_page, methods=["GET"]),
        Route("/auth/login", login, methods=["GET"]),
        Route("/auth/login", login_confirmed, methods=["POST"]),
        Route("/auth/callback", callback, methods=["GET"]),
        Route("/auth/logout", logout, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        Route("/{approval_id}", approval_page, methods=["GET"]),
        Route("/{approval_id}", decide_page, methods=["POST"]),
    ]
    # Only the sign-in handshake (authlib's state, nonce and PKCE verifier, and where to go next) is kept in
    # a signed cookie, for the minutes a sign-in takes; who is signed in is kept on the server.
    handshake = Middleware(
        SessionMiddleware, secret_key=Secret(config.session_key.hex()), session_cookie=f"{cookie.name}_signin",
        max_age=SIGN_IN_SECONDS, path=cookie.path, same_site="strict", https_only=cookie.secure,
    )  # fmt: skip
    return PageHeaders(
        Starlette(routes=routes, middleware=[handshake], exception_handlers={PagesUnavailable: unavailable})
    )
