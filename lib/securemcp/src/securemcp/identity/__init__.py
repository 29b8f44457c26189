"""Who is calling: a verified bearer token, or the configured local identity, becomes an `Identity`.

Public names:
- `principal.Identity`, `identity_from_claims`, `identity_from_roles`, `local_identity_from_env`,
  `IdentityError`;
- `tokens.JWTVerifier` (the MCP SDK's `TokenVerifier`), `tokens.RevocationList`, `tokens.discover`;
- `keys.KeySet` (an issuer's JWKS, cached and refreshed), `keys.pinned_algorithm`;
- `issuers.TrustedIssuer`, `ClaimMapping`, `TrustedIssuers`, `PagesClient`; `issuers_file.load_trusted_issuers`,
  `trusted_issuers_of`; `verified.VerifiedToken`, `identity_of_token`; `refused_tokens.RefusedTokenLog`;
- `resource_server.resource_server_auth` (RFC 9728 metadata), `request_state_security`.

Guarantees: a token is accepted only with a valid signature by a key of the trusted issuer it names
(asymmetric algorithms only, the algorithm pinned per key), unexpired, for that issuer's audience (by
default this server's), not revoked; its tenant is the one that issuer speaks for (a claim naming
another tenant is refused); tenant and user come only from it (or, over stdio, from the configured local
identity), never from arguments or headers; its scopes are cut to what its roles allow.
"""
