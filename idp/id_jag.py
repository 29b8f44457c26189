"""Enterprise-managed authorization (SEP-990): an access token for an ID-JAG from a company's IdP.

Leg 2 of the flow: a confidential client presents an Identity Assertion JWT Authorization Grant, issued
by its user's enterprise IdP, with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, and gets an
ordinary access token with no consent screen. authlib's `IDJAGGrant` does the checks of the draft and
of the MCP SDK's `exchange_identity_assertion`: client authentication, `typ` `oauth-id-jag+jwt`, the
signature with the issuer's keys, `iss`, `exp`, `iat`, `aud` (this server's issuer), `sub`, `jti`, and
that the assertion's `client_id` is the authenticated client. This module gives it what it asks for:

- the issuer's keys: only issuers in `IdpSettings.enterprise_idps` (`idp.enterprise`);
- replay: each (issuer, `jti`) is used once, recorded on disk until the assertion expires;
- the person: the `sub` is a person of the tenant bound to the issuer, `<sub>@<tenant>`, so an IdP
  reaches the people of its own tenant only; an assertion claiming another tenant (`tenant_id` or
  `tenant`) or naming a `user@tenant` id is refused, never followed;
- the audience: the assertion's `resource` claim, one of this server's resources; a `resource` in the
  request must be the same;
- the scopes: the assertion's `scope` (a request may narrow it), narrowed by the person's roles and by
  the server (`idp.tokens.grant_scopes`): the request never widens anything;
- public clients are refused (authentication by secret only, and `Client.check_grant_type`).

No refresh token: the enterprise IdP decides how long access lasts, by issuing new ID-JAGs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from authlib.oauth2.drafts import IDJAGGrant
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidScopeError
from joserfc.jwk import KeySet

from fixtures.tenants import USERS
from idp.grants import InvalidTargetError, ResourceBoundGrant, resolve_target
from idp.settings import EnterpriseIdp
from idp.tokens import NoGrantableScope, Subject, fixture_subject, grant_scopes

ID_JAG_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"
JWT_BEARER = IDJAGGrant.GRANT_TYPE
TENANT_CLAIMS = ("tenant_id", "tenant")


class EnterpriseGrant(ResourceBoundGrant, IDJAGGrant):
    """authlib's ID-JAG grant, bound to this server's enterprise IdPs, tenants, resources and role policy."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def get_audiences(self) -> list[str]:
        return [self.server.settings.issuer]

    def resolve_issuer_key(self, issuer: str, headers: Any) -> KeySet:
        self._enterprise_idp(issuer)
        keys: KeySet | None = self.server.enterprise.key_set(issuer)
        if keys is None:
            raise InvalidGrantError(description="The keys of this enterprise IdP cannot be fetched now.")
        return keys

    def check_jti(self, claims: Any, jti: str) -> bool:
        until = int(claims["exp"]) + self.LEEWAY  # as long as authlib would still accept the assertion
        used: bool = self.server.state.revocations.use_assertion(str(claims["iss"]), str(jti), until=until)
        return used

    def authenticate_user(self, subject: Any) -> Subject | None:
        claims = self.request.id_jag_claims
        idp = self._enterprise_idp(claims["iss"])
        if any(name in claims and claims[name] != idp.tenant for name in TENANT_CLAIMS):
            raise InvalidGrantError(
                description=f"The assertion claims another tenant: {idp.issuer!r} speaks for {idp.tenant!r} only."
            )
        if not isinstance(subject, str) or "@" in subject:
            raise InvalidGrantError(
                description=f"The 'sub' must name a person of {idp.tenant!r} without a tenant: {idp.issuer!r} "
                f"speaks for {idp.tenant!r} only."
            )
        person = f"{subject}@{idp.tenant}"
        return fixture_subject(person) if person in USERS else None  # None: authlib's "Invalid 'sub' value"

    def check_id_jag_permission(self, client: Any, user: Subject, scopes: list[str]) -> bool:
        resource = self.request.id_jag_claims.get("resource")
        if not isinstance(resource, str):
            raise InvalidTargetError("The assertion names no 'resource': the one server the token is for.")
        target = resolve_target(self.server, [resource])
        if any(requested != resource for requested in self.request.payload.datalist.get("resource", [])):
            raise InvalidTargetError("The request's 'resource' is not the one the assertion names.")
        # The scopes come from the assertion: without a `scope` claim authlib would take the request's,
        # and an empty list would mean "whatever the roles allow". Neither is the enterprise IdP's word.
        asserted = self.request.id_jag_claims.get("scope")
        if not isinstance(asserted, str) or not asserted.split() or not scopes:
            raise InvalidScopeError("The assertion grants no 'scope': the token's scopes come from it.")
        try:
            granted = grant_scopes(requested=scopes, roles=user.roles, server=target)
        except NoGrantableScope:
            raise InvalidScopeError("None of the assertion's scopes may be granted for this resource.") from None
        self.request.subject, self.request.target, self.request.granted = user, target, granted
        return True

    def _enterprise_idp(self, issuer: object) -> EnterpriseIdp:
        idp: EnterpriseIdp | None = self.server.settings.enterprise_idp(str(issuer))
        if idp is None:
            raise InvalidGrantError(description="Unknown issuer: not one of this server's enterprise IdPs.")
        return idp
