"""The approval pages of one server, as an ASGI app mounted at `/approvals` of its HTTP app.

    GET  /approvals                 the signed-in person's decidable approvals in their organisation
    GET  /approvals/{id}            one approval: the decision sentence, outside text apart, the form
    POST /approvals/{id}            approve or deny (CSRF token first, then a fresh sign-in, then the decision;
                                    a sign-in too old gets a page that moves on to the IdP with prompt=login)
    GET  /approvals/auth/login      sign in at the IdP (OpenID Connect, `securemcp.approvals.pages.signin`)
    GET  /approvals/auth/callback   back from the IdP
    POST /approvals/auth/logout     forget the sign-in
    GET  /approvals/static/approvals.css

Guarantees: nothing is shown or decided without a signed-in person; the tenant is the ID token's,
never the URL's; a decision runs only through `securemcp.approvals.decisions.decide`, which checks the level, the
person, the expiry and that it was not decided before; every answer carries `securemcp.approvals.pages.hygiene`'s
headers; the session cookie is HttpOnly, SameSite=Strict, Secure under TLS and scoped to the pages' path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

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
from securemcp.approvals.pages.decide import Decisions
from securemcp.approvals.pages.hygiene import CSRF_FIELD, PageHeaders, csrf_ok, csrf_token, renew_csrf_token
from securemcp.approvals.pages.signin import SignedIn, SignIn, SignInFailed
from securemcp.approvals.pages.views import Views
from securemcp.errors import SignInTooOldError
from securemcp.settings import PAGES_PATH

logger = logging.getLogger(__name__)

SESSION_COOKIE_PREFIX = "supplychain_approvals_"  # + the server: cookies ignore ports, so names keep them apart


def session_cookie(server: str) -> str:
    """The session cookie's name on `server`'s pages (each server its own, though all share Path=/approvals)."""
    return SESSION_COOKIE_PREFIX + server


SESSION_SECONDS = 60 * 60  # the cookie's life; a decision needs a far fresher sign-in anyway
_PERSON = "person"
_NEXT = "next"
_APPROVAL_ID = re.compile(r"^ap_[0-9a-f]{20}$")
_FORGED = "This form did not come from this page or has expired; nothing was changed. Open the approval again."
_UNREACHABLE = "The sign-in service cannot be reached right now. Try again shortly."


def pages_routes(config: PagesConfig, engine: Callable[[], AsyncEngine | None]) -> list[BaseRoute]:
    """The routes to add to a server's app: the pages under `/approvals`, the list also without a slash.

    Starlette would answer `/approvals` with a redirect built from the request's own URL, which behind the
    gateway lacks the `/<server>` prefix; serving the list there directly avoids the wrong address.
    """
    mount = Mount(PAGES_PATH, app=approval_pages(config, engine))
    return [Route(PAGES_PATH, _AsListPath(mount), methods=["GET"]), mount]


class _AsListPath:
    """ASGI: `/approvals` handled as `/approvals/` by the pages' mount."""

    def __init__(self, mount: Mount) -> None:
        self.mount = mount

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, "path": f"{PAGES_PATH}/", "raw_path": f"{PAGES_PATH}/".encode()}
        _, child = self.mount.matches(scope)
        await self.mount.handle({**scope, **child}, receive, send)


def approval_pages(config: PagesConfig, engine: Callable[[], AsyncEngine | None]) -> ASGIApp:
    """The pages app for `config`; `engine()` gives the server's database engine while it runs."""
    views = Views(config)
    sign_in = SignIn(config)
    decisions = Decisions(config, engine)

    def person_of(request: Request) -> SignedIn | None:
        return SignedIn.from_session(request.session.get(_PERSON))

    def sign_in_url(next_path: str, *, again: bool = False) -> str:
        return config.url(f"/auth/login?next={quote(next_path, safe='')}" + ("&again=1" if again else ""))

    def to_sign_in(next_path: str) -> Response:
        return RedirectResponse(sign_in_url(next_path), status_code=303)

    def after_post_to_sign_in(next_path: str, *, again: bool, message: str) -> Response:
        # Not a redirect: after a form post, CSP `form-action 'self'` stops a redirect chain that leaves
        # this origin (for the IdP). A page that moves on by itself (no script) is a plain navigation.
        return views.page("bounce.html", title="Sign in", target=sign_in_url(next_path, again=again), message=message)

    def common(request: Request, person: SignedIn | None) -> dict[str, Any]:
        return {"person": person, "csrf_token": csrf_token(request.session)}

    async def list_page(request: Request) -> Response:
        person = person_of(request)
        if person is None:
            return to_sign_in("")
        approvals = await decisions.decidable(person)
        return views.page(
            "list.html", title="Approvals waiting for you", approvals=approvals, **common(request, person)
        )

    async def approval_page(request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        person = person_of(request)
        if person is None:
            return to_sign_in(f"/{approval_id}" if _APPROVAL_ID.fullmatch(approval_id) else "")
        if not _APPROVAL_ID.fullmatch(approval_id):
            return views.not_found(**common(request, person))
        return await decisions.show(views, person, approval_id, common(request, person))

    async def decide_page(request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        async with request.form(max_files=0, max_fields=8, max_part_size=4096) as form:
            submitted = {name: value for name, value in form.items() if isinstance(value, str)}
        if not csrf_ok(request.session, submitted.get(CSRF_FIELD)):  # first: nothing else is even read
            refused_by = person_of(request)  # a stale form of a signed-in person: recorded as theirs
            if refused_by is not None and _APPROVAL_ID.fullmatch(approval_id):
                verb = submitted.get("decision") if submitted.get("decision") in ("approve", "deny") else "decide"
                await decisions.record_refusal(refused_by, approval_id, str(verb), "the form failed its CSRF check")
            return views.message(title="Forbidden", status=403, kind="refused", message=_FORGED)
        person = person_of(request)
        if person is None:
            next_path = f"/{approval_id}" if _APPROVAL_ID.fullmatch(approval_id) else ""
            return after_post_to_sign_in(next_path, again=False, message="Sign in first; nothing was decided.")
        if not _APPROVAL_ID.fullmatch(approval_id):
            return views.not_found(**common(request, person))
        decision = submitted.get("decision")
        if decision not in ("approve", "deny"):
            return views.message(
                title="Bad request", status=400, message="Choose approve or deny.", **common(request, person)
            )
        try:
            return await decisions.decide(
                views, person, approval_id, decision, submitted.get("arguments_sha256", ""), common(request, person)
            )
        except SignInTooOldError:  # nothing was decided: sign in again at the IdP, then decide
            minutes = max(1, int(config.max_sign_in_age.total_seconds() // 60))
            message = f"Deciding needs a sign-in from the last {minutes} minutes. Sign in again; nothing was decided."
            return after_post_to_sign_in(f"/{approval_id}", again=True, message=message)

    async def login(request: Request) -> Response:
        next_path = request.query_params.get("next", "")
        # Only a path of these pages: the sign-in must never become an open redirect.
        request.session[_NEXT] = next_path if next_path == "" or _APPROVAL_ID.fullmatch(next_path[1:]) else ""
        try:
            return await sign_in.redirect(request, again=request.query_params.get("again") == "1")
        except (SignInFailed, OSError, ValueError) as error:
            logger.warning("approval pages: cannot start a sign-in at the IdP: %s: %s", type(error).__name__, error)
            return views.message(
                title="Sign-in unavailable",
                status=503,
                message="The sign-in service cannot be reached right now. Try again shortly.",
            )

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
            return views.message(
                title="Sign-in failed",
                status=400,
                kind="refused",
                message="The sign-in could not be completed. Start again.",
            )
        request.session[_PERSON] = person.to_session()
        renew_csrf_token(request.session)
        return RedirectResponse(config.url(request.session.pop(_NEXT, "")), status_code=303)

    async def logout(request: Request) -> Response:
        async with request.form(max_files=0, max_fields=4, max_part_size=1024) as form:
            token = form.get(CSRF_FIELD)
        if not csrf_ok(request.session, token):
            return views.message(
                title="Forbidden", status=403, kind="refused", message="This form did not come from this page."
            )
        request.session.clear()
        return views.message(title="Signed out", status=200, message="You are signed out of the approval pages.")

    routes = [
        Route("/", list_page, methods=["GET"]),
        Route("/auth/login", login, methods=["GET"]),
        Route("/auth/callback", callback, methods=["GET"]),
        Route("/auth/logout", logout, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        Route("/{approval_id}", approval_page, methods=["GET"]),
        Route("/{approval_id}", decide_page, methods=["POST"]),
    ]
    session = Middleware(
        SessionMiddleware, secret_key=Secret(config.session_key.hex()), session_cookie=session_cookie(config.server),
        max_age=SESSION_SECONDS, path=urlsplit(config.base_url).path, same_site="strict", https_only=config.secure,
    )  # fmt: skip
    return PageHeaders(Starlette(routes=routes, middleware=[session]))
