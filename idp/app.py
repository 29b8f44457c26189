"""The dev authorization server's HTTP surface: a Starlette app, served by uvicorn on loopback.

Routes: RFC 8414 metadata (also at the OpenID discovery path), JWKS, the revocation list, the
authorization endpoint (login, consent), token, registration, revocation, introspection and UserInfo. OAuth
logic is authlib's (`idp.server`); this module reads requests, keeps browser sessions and renders pages.

DEV ONLY: fixture users with published passwords log in here. Production points the servers at the
company identity provider instead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from authlib.oauth2.rfc6749 import AccessDeniedError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fixtures.tenants import DEV_PASSWORDS, USERS
from idp.cimd import DocumentRefused, is_document_client_id
from idp.clients import ClientRegistry
from idp.fetch_slots import FetchesBusy
from idp.id_jag import JWT_BEARER
from idp.keys import KeyRing
from idp.login_forms import LoginForms, set_login_cookie
from idp.oidc import UserInfoRefused, needs_password, request_digest, userinfo
from idp.pages import consent_page, error_page, login_page
from idp.server import DevAuthorizationServer, HttpSnapshot, OAuthResponse
from idp.sessions import Session, SessionStore, set_cookie
from idp.settings import IdpSettings
from idp.store import IdpState
from idp.tokens import OPENID_SCOPE, USERINFO_PATH, Subject, fixture_subject, offered_scopes, parse_scope

_FORM_CONTROLS = ("csrf_token", "decision")
BUSY_RETRY_AFTER = "1"  # seconds: a document fetch in flight ends within the fetch timeout, usually far sooner
_NOTHING_TO_ALLOW = "The user's roles allow none of the requested scopes on the requested resources."


def _password_ok(user: str, password: str) -> bool:
    expected = DEV_PASSWORDS.get(user)
    # Compare digests: equal length, constant time, whatever was typed.
    typed = hashlib.sha256(password.encode()).digest()
    return expected is not None and hmac.compare_digest(typed, hashlib.sha256(expected.encode()).digest())


def build_app(
    settings: IdpSettings | None = None, *, keys: KeyRing | None = None, clients: ClientRegistry | None = None
) -> Starlette:
    """The dev authorization server as an ASGI app; state lives as long as the app."""
    settings = settings or IdpSettings()
    # authlib logs every issued token (access and refresh) at DEBUG: never let those records exist.
    logging.getLogger("authlib").setLevel(logging.INFO)
    server = DevAuthorizationServer(
        settings=settings, keys=keys or KeyRing(), clients=clients or ClientRegistry(), state=IdpState()
    )
    sessions = SessionStore()
    login_forms = LoginForms()
    secure_cookie = settings.issuer.startswith("https://")

    async def snapshot(request: Request, params: list[tuple[str, str]] | None = None) -> HttpSnapshot:
        if params is None:
            if request.method == "GET":
                params = list(request.query_params.multi_items())
            else:  # token-endpoint parameters belong in the body (RFC 6749 §3.2): the query is ignored
                form = await request.form()
                params = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        return HttpSnapshot(method=request.method, url=str(request.url), headers=request.headers, params=params)

    def respond(call: Callable[[], OAuthResponse]) -> Response:
        try:
            return call().to_starlette()
        except OAuth2Error as error:  # raised before authlib's own handling, e.g. insecure transport
            response: OAuthResponse = server.handle_error_response(None, error)
            return response.to_starlette()

    def authorization_failed(error: OAuth2Error) -> Response:
        if error.redirect_uri:  # the client and its redirect URI are verified: tell the client
            return server.authorization_error(error).to_starlette()
        return error_page(str(error.error), str(error.description or "The authorization request is invalid."), 400)

    async def metadata(request: Request) -> Response:
        return JSONResponse(server.metadata())

    async def jwks(request: Request) -> Response:
        return JSONResponse(server.keys.jwks(), headers={"Cache-Control": "max-age=60"})

    async def revocations(request: Request) -> Response:
        body = {
            "revoked": server.state.revocation_list(),
            "revoked_grants": server.state.revoked_grants(),
            "generated_at": int(time.time()),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def document_problem(params: list[tuple[str, str]]) -> DocumentRefused | FetchesBusy | None:
        """Load the client's metadata document if its client_id is a URL (`idp.cimd`); why not, if it cannot be."""
        client_id = dict(params).get("client_id")
        if not is_document_client_id(client_id):
            return None
        try:
            await server.documents.load(str(client_id))
        except (DocumentRefused, FetchesBusy) as problem:
            return problem
        return None

    async def refused_document(params: list[tuple[str, str]]) -> Response | None:
        """The page for a client whose metadata document is refused, or cannot be fetched right now."""
        problem = await document_problem(params)
        if isinstance(problem, FetchesBusy):
            page = error_page("temporarily_unavailable", f"The client cannot be checked now: {problem}.", 503)
            page.headers["Retry-After"] = BUSY_RETRY_AFTER
            return page
        if problem is not None:
            return error_page("invalid_client", f"This client cannot be used: {problem}.", 400)
        return None

    async def busy_document(params: list[tuple[str, str]]) -> Response | None:
        """At the token and revocation endpoints: a JSON 503 when the document cannot be fetched now.
        A refused document is left to authlib: it leaves the client unknown, `invalid_client`."""
        problem = await document_problem(params)
        if not isinstance(problem, FetchesBusy):
            return None
        body = {"error": "temporarily_unavailable", "error_description": f"the client cannot be checked now: {problem}"}
        return JSONResponse(
            body, status_code=503, headers={"Retry-After": BUSY_RETRY_AFTER, "Cache-Control": "no-store"}
        )

    def offer(grant: Any, subject: Subject) -> frozenset[str]:
        """The scopes this consent can grant (`openid` included), narrowed to the requested resources."""
        resources = grant.request.payload.datalist.get("resource", [])
        servers = [str(settings.server_for_resource(resource)) for resource in resources]
        return offered_scopes(requested=parse_scope(grant.request.payload.scope), roles=subject.roles, servers=servers)

    def login_form(request: Request, query: str) -> Response:
        """The login page; its CSRF token is bound to this browser's nonce cookie, not to a stored session."""
        nonce = login_forms.browser_nonce(request)
        page = login_page(csrf_token=login_forms.token(nonce, query), authorize_query=query, users=list(USERS))
        set_login_cookie(page, nonce, secure=secure_cookie)
        return page

    def ask(
        request: Request, session: Session | None, grant: Any, params: list[tuple[str, str]], query: str
    ) -> Response:
        """The login form or the consent form for a valid authorization request (or a `prompt=none` error)."""
        silent = "none" in dict(params).get("prompt", "").split()
        state = grant.request.payload.state
        if session is None or needs_password(session, params):
            if silent:
                raise LoginRequiredError(redirect_uri=grant.redirect_uri, state=state)
            return login_form(request, query)
        if silent:  # consent is asked every time, so it cannot be given without a page
            raise ConsentRequiredError(redirect_uri=grant.redirect_uri, state=state)
        subject = fixture_subject(str(session.user_id))
        scopes = offer(grant, subject)
        client = grant.request.client
        return consent_page(
            csrf_token=session.csrf_token,
            user_id=subject.sub,
            client_name=client.client_name,
            client_id=client.client_id,
            scopes=sorted(scopes - {OPENID_SCOPE}),
            sign_in=OPENID_SCOPE in scopes,
            redirect_uri=grant.redirect_uri,
            resources=grant.request.payload.datalist.get("resource", []),
            params=params,
        )

    async def authorize(request: Request) -> Response:
        # An anonymous browser gets no session here (`idp.login_forms`): one starts at a successful login.
        session = sessions.current(request)
        snap = await snapshot(request)
        refused = await refused_document(snap.params)
        if refused is not None:
            return refused
        user = fixture_subject(session.user_id) if session is not None and session.user_id else None
        try:
            grant = server.get_consent_grant(snap, end_user=user)
            page = ask(request, session, grant, snap.params, request.url.query)
        except OAuth2Error as error:
            return authorization_failed(error)
        except ValueError:  # authlib refuses to echo characters an error description may not carry
            return error_page("invalid_request", "The authorization request is malformed.", 400)
        if session is not None:
            set_cookie(page, session, secure=secure_cookie)
        return page

    async def login(request: Request) -> Response:
        form = await request.form()
        token, query = _text(form.get("csrf_token")), _text(form.get("authorize_query")) or ""
        if not login_forms.accepts(token, request=request, authorize_query=query):
            return error_page("Forbidden", "This form expired or did not come from this server. Start again.", 403)
        user, password = _text(form.get("username")) or "", _text(form.get("password")) or ""
        if not _password_ok(user, password):
            error = "Unknown user or wrong password."
            return login_page(csrf_token=str(token), authorize_query=query, users=list(USERS), error=error)
        params = parse_qsl(query, keep_blank_values=True)
        session = sessions.log_in(sessions.current(request), user, request_digest=request_digest(params))
        # Re-encode: the resumed request goes to our own /authorize, whatever the field held.
        response = RedirectResponse(f"/authorize?{urlencode(params)}", 303)
        set_cookie(response, session, secure=secure_cookie)
        return response

    async def consent(request: Request) -> Response:
        session = sessions.current(request)
        form = await request.form()
        if session is None or not session.csrf_ok(_text(form.get("csrf_token"))):
            return error_page("Forbidden", "This form expired or did not come from this server. Start again.", 403)
        if session.user_id is None:
            return error_page("Forbidden", "Log in first.", 403)
        params = [(k, v) for k, v in form.multi_items() if k not in _FORM_CONTROLS and isinstance(v, str)]
        subject = fixture_subject(session.user_id)
        refused = await refused_document(params)
        if refused is not None:
            return refused
        try:
            grant = server.get_consent_grant(await snapshot(request, params), end_user=subject)
            if needs_password(session, params):  # the login went stale while the page was open
                return RedirectResponse(f"/authorize?{urlencode(params)}", 303)
        except OAuth2Error as error:
            return authorization_failed(error)
        except ValueError:
            return error_page("invalid_request", "The authorization request is malformed.", 400)
        approved = _text(form.get("decision")) == "approve"
        if approved and not offer(grant, subject):  # the page offered no "Allow": a forged post
            return authorization_failed(
                AccessDeniedError(_NOTHING_TO_ALLOW, redirect_uri=grant.redirect_uri, state=grant.request.payload.state)
            )
        grant.request.auth_time = session.auth_time
        response: OAuthResponse = server.create_authorization_response(
            request=grant.request, grant_user=subject if approved else None, grant=grant
        )
        session.logged_in_for = None  # the fresh login answered this request; the next one asks again
        return response.to_starlette()

    async def userinfo_endpoint(request: Request) -> Response:
        try:
            body = userinfo(server, request.headers.get("authorization"))
        except UserInfoRefused as refused:
            challenge = f'Bearer error="{refused.error}"'
            return JSONResponse(
                {"error": refused.error}, status_code=refused.status, headers={"WWW-Authenticate": challenge}
            )
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def token(request: Request) -> Response:
        snap = await snapshot(request)
        params = dict(snap.params)
        if params.get("grant_type") == JWT_BEARER:  # authlib is synchronous: fetch the IdP's keys first
            await server.enterprise.prepare(params.get("assertion"))
        busy = await busy_document(snap.params)
        return busy or respond(lambda: server.create_token_response(snap))

    async def revoke(request: Request) -> Response:
        snap = await snapshot(request)
        busy = await busy_document(snap.params)
        return busy or respond(lambda: server.create_endpoint_response("revocation", snap))

    async def introspect(request: Request) -> Response:
        snap = await snapshot(request)
        return respond(lambda: server.create_endpoint_response("introspection", snap))

    async def register(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body:
            error = {"error": "invalid_client_metadata", "error_description": "The body must be a JSON object."}
            return JSONResponse(error, status_code=400, headers={"Cache-Control": "no-store"})
        snap = HttpSnapshot(method="POST", url=str(request.url), headers=request.headers, json_body=body)
        return respond(lambda: server.create_endpoint_response("client_registration", snap))

    routes = [
        Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/.well-known/openid-configuration", metadata, methods=["GET"]),
        Route("/jwks.json", jwks, methods=["GET"]),
        Route("/revocations", revocations, methods=["GET"]),
        Route("/authorize", authorize, methods=["GET"]),
        Route("/authorize", consent, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/register", register, methods=["POST"]),
        Route("/revoke", revoke, methods=["POST"]),
        Route("/introspect", introspect, methods=["POST"]),
        Route(USERINFO_PATH, userinfo_endpoint, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.authorization_server = server
    app.state.sessions = sessions
    return app


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def serve(settings: IdpSettings) -> None:
    """Run the dev authorization server with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,  # uvicorn's loggers go through ours (securemcp.observability.logs): JSON and redaction
        server_header=False,
        proxy_headers=False,  # never trust X-Forwarded-* from whoever connects
    )
